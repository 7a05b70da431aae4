"""neo's command line. Commands only parse, call and print; the work lives in the modules they call."""

from __future__ import annotations

import logging
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from neo.core import logs
from neo.core.errors import NeoError, UsageError, explain, first_line
from neo.core.output import Format

if TYPE_CHECKING:  # imported where used: `neo --help` and `neo datasets` stay quick to start
    from neo.core.config import Settings

app = typer.Typer(
    help="Keep a local, always-current copy of Chinese A-share data from Tushare Pro.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="markdown",  # docstrings are wrapped text: paragraphs, not hard line breaks
)
sim_app = typer.Typer(
    help="The built-in Tushare-compatible simulator.", no_args_is_help=True, rich_markup_mode="markdown"
)
app.add_typer(sim_app, name="sim")


def _pairs(values: list[str], what: str) -> dict[str, str]:
    out = {}
    for v in values:
        key, sep, value = v.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"bad {what} {v!r}: expected KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


@app.callback()
def _root(
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="More log output (-vv: debug).")
    ] = 0,
) -> None:
    logs.setup(logging.WARNING - 10 * min(verbose, 2))


@app.command()
def fetch(
    api: Annotated[str, typer.Argument(help="Tushare API name, e.g. daily, trade_cal, income_vip.")],
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="A request param KEY=VALUE (repeatable).")
    ] = None,
    fields: Annotated[str, typer.Option(help="Comma-separated fields; empty = the API's default set.")] = "",
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file.")] = None,
    max_rows: Annotated[int, typer.Option(help="Rows shown by --format table.")] = 30,
) -> None:
    """Make one API call (paged past the row cap) and print the result.

    Uses TUSHARE_TOKEN and NEO_TUSHARE_URL; point it at `neo sim serve` to try it offline.
    """
    from neo.core.output import emit
    from neo.pipeline.container import AppContainer

    params = _pairs(param or [], "--param")
    with AppContainer() as container:
        table = container.client.query(api, params, fields)
    emit(table, fmt, output, max_rows, title=api)


DatasetsArg = Annotated[
    list[str] | None, typer.Argument(help="Datasets (default: all; see `neo datasets`).", show_default=False)
]
StartOpt = Annotated[str | None, typer.Option(help="First day, YYYYMMDD (default: history_start).")]
EndOpt = Annotated[str | None, typer.Option(help="Last day, YYYYMMDD (default: today, Beijing time).")]
CodesOpt = Annotated[str | None, typer.Option(help="Only these ts_codes, comma-separated (per-stock calls).")]
RetryOpt = Annotated[bool, typer.Option("--retry-failed", help="Plan failed requests again.")]
RefetchOpt = Annotated[
    bool,
    typer.Option(
        "--refetch",
        help="Download every request in --start..--end again, even if done (e.g. after the source "
        "revised its data; the newest download wins).",
    ),
]


def _plan_args(
    datasets: list[str] | None, start: str | None, end: str | None, codes: str | None
) -> dict[str, object]:
    from neo.core.dates import parse_day
    from neo.datasets import get

    names = [get(d).name for d in datasets] if datasets else None
    code_list = [c.strip() for c in codes.split(",") if c.strip()] if codes else None
    return {
        "datasets": names,
        "start": parse_day(start, "--start") if start else None,
        "end": parse_day(end, "--end") if end else None,
        "codes": code_list,
    }


@app.command()
def download(
    datasets: DatasetsArg = None,
    start: StartOpt = None,
    end: EndOpt = None,
    codes: CodesOpt = None,
    retry_failed: RetryOpt = False,
    refetch: RefetchOpt = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Only print the plan: calls per API and how long the quotas make them take "
            "(fetches the trade calendar and stock list first if missing).",
        ),
    ] = False,
) -> None:
    """Plan, download and write everything missing, with live progress, then sync.

    Runs the fast, slow and maint consumers in this process until the plan is done. Ctrl-C stops
    cleanly; running it again resumes where it stopped. Failed requests are listed by `neo status`.
    A full or read-only disk, or a rejected token, stops the run with one line; what was written
    stays, and the same command finishes the rest. At the end it compacts the datasets where a
    partition holds more than compact_after_files new files (a history download, or a week of
    daily runs) or rows downloaded again (re-pulled report periods), so queries read a few large
    files, each key once.
    """
    from rich.console import Console
    from rich.table import Table

    from neo.console import LiveDownload
    from neo.pipeline.container import AppContainer
    from neo.pipeline.estimate import size_text
    from neo.pipeline.runner import download as run_download
    from neo.pipeline.runner import dry_run as run_dry_run

    args = _plan_args(datasets, start, end, codes)
    with AppContainer() as container:
        container.settings.token_value()  # fail now, not in a worker, when there is no token
        if dry_run:
            plan = run_dry_run(container, retry_failed=retry_failed, refetch=refetch, **args)  # type: ignore[arg-type]
            table = Table("API", "datasets", "calls", "quota/min", "time at quota", "rows", "on disk")
            for a in plan.apis:
                per_min = f"{a.quota * 60 / container.settings.quota_window:.0f}" if a.quota else "unlimited"
                hours = f"{a.minutes:.1f} min" if a.minutes < 120 else f"{a.minutes / 60:.1f} h"
                rows, size = (f"{a.rows:,}", size_text(a.bytes)) if a.rows else ("-", "-")
                table.add_row(a.api, ", ".join(a.datasets), f"{a.calls:,}", per_min, hours, rows, size)
            Console().print(table)
            print(plan.line())
            return
        live = LiveDownload(container.settings)
        summary = run_download(container, retry_failed=retry_failed, refetch=refetch, progress=live, **args)  # type: ignore[arg-type]
    state = "interrupted" if summary.interrupted else "done"
    print(
        f"{state}: {summary.planned} calls planned, {summary.rows:,} rows written, {summary.failed} failed, "
        f"{summary.seconds:.0f}s" + ("; see `neo status`" if summary.failed else "")
    )
    for r in summary.compacted:
        files_in, files_out = sum(p.files_in for p in r.partitions), sum(p.files_out for p in r.partitions)
        print(f"compacted {r.dataset}: {files_in} files -> {files_out} in {r.seconds:.1f}s")
    if summary.interrupted:
        raise typer.Exit(130)
    if summary.failed:
        raise typer.Exit(1)


@app.command()
def dl(
    datasets: DatasetsArg = None,
    start: StartOpt = None,
    end: EndOpt = None,
    codes: CodesOpt = None,
    retry_failed: RetryOpt = False,
    refetch: RefetchOpt = False,
) -> None:
    """Producer only: plan and put the calls on the fast queue (run `neo dp` consumers to do them).

    Requests queued by an earlier `neo dl` in the last 6 hours and not yet done are not queued again.
    """
    from neo.pipeline.container import AppContainer
    from neo.pipeline.queues import QueuedPipeline
    from neo.pipeline.runner import QUEUED_TTL, plan

    args = _plan_args(datasets, start, end, codes)
    with AppContainer() as container:
        container.settings.token_value()
        result = plan(  # type: ignore[arg-type]
            container,
            QueuedPipeline(container),
            retry_failed=retry_failed,
            queued_ttl=QUEUED_TTL,
            refetch=refetch,
            **args,
        )
    by_dataset: dict[str, int] = {}
    for r in result.requests:
        by_dataset[r.dataset] = by_dataset.get(r.dataset, 0) + 1
    detail = ", ".join(f"{k} {v}" for k, v in sorted(by_dataset.items())) or "nothing to do"
    print(f"plan {result.plan_id}: {len(result.requests)} calls queued ({detail})")


class Kind(StrEnum):
    fast = "fast"
    slow = "slow"
    maint = "maint"


@app.command()
def dp(
    kind: Annotated[Kind, typer.Argument(help="fast: downloads; slow: writes; maint: sync on a schedule.")],
    workers: Annotated[
        int | None, typer.Option(min=1, help="Worker threads (default: from settings).")
    ] = None,
) -> None:
    """Run one kind of consumer in the foreground (for long-running or multi-machine deployments)."""
    from neo.pipeline.container import AppContainer
    from neo.pipeline.queues import QueuedPipeline
    from neo.pipeline.runner import consume

    with AppContainer() as container:
        s = container.settings
        if kind is Kind.fast:
            s.token_value()
        default = {"fast": s.fast_workers, "slow": s.slow_workers, "maint": 1}[kind.value]
        consume(QueuedPipeline(container), kind.value, workers or default)


def _reading() -> Settings:
    """Settings for a reading command: its data root must exist (a typo in NEO_HOME is one line,
    and nothing is created)."""
    from neo.core.config import load_settings
    from neo.core.errors import check_exists

    settings = load_settings()
    check_exists(settings.home)
    return settings


@app.command()
def status() -> None:
    """Per dataset: rows, files, date range, missing trade dates/periods, last update; queues; failures."""
    from neo import console
    from neo.report.status import status as lake_status

    table, lines, failed = console.status(lake_status(_reading()))
    out = console.out()
    console.print_lines(out, table, lines)
    if failed is not None:
        out.print(failed)


@app.command()
def report(
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write the page here (default: report.html in the data root).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Write one HTML page picturing the lake's coverage and print its path.

    Per dataset: a calendar of months (complete, partial, missing, by the same rules as `neo status`),
    rows per year, last update; then every failed request with its reason. The page needs no network
    to open: no script, font or file from elsewhere. An empty lake gives a page saying nothing is
    downloaded yet.
    """
    from rich.console import Console

    from neo.report import write_report

    settings = _reading()
    with Console(stderr=True).status("reading the lake") as shown:

        def progress(name: str, n: int, total: int) -> None:
            shown.update(f"reading {name} ({n}/{total})")

        path, lake = write_report(settings, output, on_dataset=progress)
    print(f"wrote {path} ({lake.summary()})")


@app.command()
def sync() -> None:
    """Rebuild data/metadata.db (views over the lake). Safe while analysts are connected.

    New Parquet files show up in the views without a sync; run it after upgrading neo or moving
    the data root.
    """
    from neo.core.config import load_settings
    from neo.lake.catalog import sync as run_sync

    result = run_sync(load_settings())
    print(
        f"synced {result.path}: {len(result.views)} views ({', '.join(result.views)}); "
        f"{len(result.macros)} table macros ({', '.join(result.macros)})"
    )


@app.command()
def compact(
    datasets: DatasetsArg = None,
) -> None:
    """Merge each partition's small files into a few large ones: latest row per key, sorted by
    month (minute bars: day), then ts_code and date. Out of core within compact_memory_limit.
    `neo download` does it by itself once a partition holds more than compact_after_files new
    files, or rows downloaded again.

    Safe while downloads and queries run; partitions already compact are skipped. The files it
    replaces stay until `neo vacuum` (after the grace period), so running queries keep working.
    """
    from neo.core.config import load_settings
    from neo.datasets import get
    from neo.lake.compact import PartitionResult
    from neo.lake.compact import compact as run_compact

    specs = [get(n) for n in datasets] if datasets else None

    def show(dataset: str, part: PartitionResult) -> None:
        where = f"/{part.partition}" if part.partition else ""
        print(f"{dataset}{where}: {part.files_in} files -> {part.files_out}, {part.rows:,} rows", flush=True)

    for r in run_compact(load_settings(), specs, on_partition=show):
        if r.skipped:
            print(f"{r.dataset}: {r.skipped}")
        else:
            before = sum(p.files_in for p in r.partitions)
            after = sum(p.files_out for p in r.partitions)
            parts = len(r.partitions)
            print(f"{r.dataset}: {parts} partitions, {before} files -> {after} in {r.seconds:.1f}s")


@app.command()
def vacuum(
    older_than: Annotated[
        str | None,
        typer.Option(help="Grace period, e.g. 24h, 30m, 0s (default: the vacuum_grace setting)."),
    ] = None,
    datasets: DatasetsArg = None,
) -> None:
    """Delete files that compaction replaced more than the grace period ago, and temporary files
    left by crashed processes.

    Queries and connections younger than the grace period keep working; an older connection to
    metadata.db may then fail and must reconnect.
    """
    from neo.core.config import load_settings
    from neo.core.dates import parse_duration
    from neo.datasets import get
    from neo.lake.vacuum import vacuum as run_vacuum

    settings = load_settings()
    grace = parse_duration(older_than if older_than is not None else settings.vacuum_grace)
    specs = [get(n) for n in datasets] if datasets else None
    files = size = temps = 0
    for r in run_vacuum(settings, grace, specs):
        if r.skipped:
            print(f"{r.dataset}: skipped, {r.skipped}")
        for path in r.foreign:
            print(f"{r.dataset}: left {path} alone: neo did not write it")
        files, size, temps = files + r.files, size + r.bytes, temps + r.temps
    print(f"deleted {files} superseded files ({size / 1e6:,.1f} MB) and {temps} temporary files")


@app.command()
def query(
    sql: Annotated[str, typer.Argument(help='One SQL statement, e.g. "SELECT * FROM daily LIMIT 5".')],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file.")] = None,
    max_rows: Annotated[int, typer.Option(help="Rows shown by --format table.")] = 30,
) -> None:
    """Run read-only SQL on metadata.db: one view per dataset, plus *_latest, daily_hfq, daily_qfq.

    Works while downloads, syncs and compaction run.
    """
    from neo.core.output import emit
    from neo.lake.query import run

    emit(run(sql), fmt, output, max_rows)


LegacyOpt = Annotated[
    Path, typer.Option("--legacy", help="The legacy DuckDB database (the old DBOperator.upsert output).")
]


@app.command()
def migrate(
    legacy: LegacyOpt,
    datasets: DatasetsArg = None,
    restart: Annotated[
        bool, typer.Option("--restart", help="Forget earlier runs on this file and import all of it again.")
    ] = False,
) -> None:
    """Import the tables of a legacy DuckDB database into the lake, with progress.

    Tables are matched to datasets by name or by the legacy_tables setting; other tables are listed
    and skipped. Interrupted, it continues where it stopped when run again. Migrated rows carry the
    legacy file's modification time as download time, so newer downloads win over them.
    """
    from rich.console import Console

    from neo.legacy.migrate import migrate as run_migrate
    from neo.pipeline.container import AppContainer

    try:
        with AppContainer() as container:
            result = run_migrate(container, legacy, datasets, restart=restart, console=Console(stderr=True))
    except KeyboardInterrupt:
        print("interrupted: run the same command again to continue", file=sys.stderr)
        raise typer.Exit(130) from None
    for d in result.datasets:
        done = f"{d.written:,} of {d.rows:,} rows written"
        state = f"already migrated ({d.rows:,} rows)" if d.already else done
        notes = [f"legacy columns ignored: {', '.join(d.ignored)}"] if d.ignored else []
        notes += [f"absent, so NULL: {', '.join(d.missing)}"] if d.missing else []
        print(f"{d.dataset} <- {d.table}: {state}" + (f" ({'; '.join(notes)})" if notes else ""))
    if result.unknown_tables:
        print(
            f"skipped tables of no dataset: {', '.join(result.unknown_tables)} "
            "(map them with the legacy_tables setting)"
        )
    if result.nothing_to_do:
        print(f"nothing to do: {legacy} is already migrated ({result.rows:,} rows)")
    else:
        print(
            f"migrated {result.written:,} rows from {legacy}, download time "
            f"{result.fetched_at:%Y-%m-%d %H:%M:%S} UTC (the file's modification time); "
            f"check with `neo verify --legacy {legacy}`"
        )


@app.command()
def verify(
    datasets: DatasetsArg = None,
    legacy: Annotated[
        Path | None, typer.Option("--legacy", help="Prove the lake equal to this legacy DuckDB database.")
    ] = None,
    keys: Annotated[int, typer.Option("--keys", min=1, help="Differing keys listed per dataset.")] = 10,
) -> None:
    """Check the lake; with --legacy, prove it equal to a legacy DuckDB database. Exit 0 only if so.

    Without --legacy: every live file is read through and has the declared schema, each key shows
    once, and no date is missing against the trade calendar. With --legacy: per dataset and year,
    row counts, sums of numeric columns and a hash of every row; differing keys are listed.
    """
    from rich.console import Console

    from neo import console
    from neo.legacy.compare import compare_legacy
    from neo.report.verify import check_lake, passed

    settings = _reading()
    with Console(stderr=True).status("verifying") as status:
        if legacy is not None:
            report = compare_legacy(
                settings,
                legacy,
                datasets,
                max_keys=keys,
                on_dataset=lambda d: status.update(f"comparing {d}"),
            )
            ok, (table, lines) = report.equal, console.legacy(report)
        else:
            health = check_lake(settings, datasets, on_file=lambda p: status.update(f"reading {p.name}"))
            ok, (table, lines) = passed(health), console.verify(health)
    console.print_lines(console.out(), table, lines)
    if not ok:
        raise typer.Exit(1)


@app.command()
def datasets() -> None:
    """List the datasets neo knows: API, key, date column, strategy, row cap."""
    from rich.console import Console
    from rich.table import Table

    from neo.datasets import DATASETS

    out = Table("dataset", "api", "key", "date column", "strategy", "row cap", "description")
    for s in DATASETS.values():
        out.add_row(
            s.name, s.api, ",".join(s.key), s.date_column or "-", s.strategy, str(s.row_cap), s.description
        )
    Console().print(out)


@app.command()
def demo(
    stocks: Annotated[int, typer.Option(min=1, help="Stocks in the simulated market.")] = 40,
) -> None:
    """Run neo offline against the built-in simulator and show real results."""
    from neo.demo import run

    run(stocks=stocks)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0 = any free port).")] = 7200,
    token: Annotated[
        str | None, typer.Option(help="Accept only this token (default: any non-empty).")
    ] = None,
    cache_mb: Annotated[int, typer.Option(min=0, help="Memory for repeated replies, MB (0 = none).")] = 256,
    months_mb: Annotated[
        int,
        typer.Option(
            min=0,
            help="Memory for months of data read once and kept to answer requests by date, MB "
            "(0 = read Parquet for every request).",
        ),
    ] = 512,
) -> None:
    """Serve the lake read-only over Tushare's protocol (point the tushare SDK at it) until Ctrl-C.

    A request for days or periods the lake has not downloaded is refused (code -1000) with the
    `neo download` command that fills them, never answered in part.
    """
    from neo.core.config import load_settings
    from neo.protocol.serve import bind, serve_forever

    server = bind(load_settings(), host, port, token, cache_mb, months_mb)
    print(
        f"neo serve: the lake {server.service.settings.lake_dir} on {server.url}  (tushare: "
        f"pro = ts.pro_api(token); pro._DataApi__http_url = '{server.url}/dataapi')",
        file=sys.stderr,
        flush=True,
    )
    serve_forever(server)


@sim_app.command("serve")
def sim_serve(
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0 = any free port).")] = 7199,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    stocks: Annotated[int, typer.Option(min=1, help="Stocks in the simulated market.")] = 100,
    start: Annotated[str, typer.Option(help="First day of data, YYYYMMDD.")] = "20230101",
    end: Annotated[
        str, typer.Option(help="Last day of data ('today' of the market), YYYYMMDD.")
    ] = "20241231",
    seed: Annotated[int, typer.Option(help="Seed: the same seed serves the same data.")] = 42,
    token: Annotated[
        str | None, typer.Option(help="Accept only this token (default: any non-empty).")
    ] = None,
    quota: Annotated[int, typer.Option(min=0, help="Calls per window per token per API (0 = none).")] = 0,
    quota_window: Annotated[float, typer.Option(min=0.01, help="Quota window in seconds.")] = 60.0,
    latency_ms: Annotated[float, typer.Option(min=0, help="Added to every reply.")] = 0.0,
    fault_rate: Annotated[
        float, typer.Option(min=0, max=1, help="Total fault probability, split evenly.")
    ] = 0.0,
    p_5xx: Annotated[float | None, typer.Option(min=0, max=1, help="Probability of an HTTP 5xx.")] = None,
    p_slow: Annotated[float | None, typer.Option(min=0, max=1, help="Probability of a slow reply.")] = None,
    p_quota: Annotated[float | None, typer.Option(min=0, max=1, help="Probability of a quota reply.")] = None,
    p_malformed: Annotated[
        float | None, typer.Option(min=0, max=1, help="Probability of a cut body.")
    ] = None,
    p_db_error: Annotated[float | None, typer.Option(min=0, max=1, help="Probability of 数据库异常.")] = None,
    slow_ms: Annotated[float, typer.Option(min=0, help="How long a slow reply stalls.")] = 35_000.0,
    revise_rate: Annotated[
        float, typer.Option(min=0, max=1, help="Share of rows revised per re-serve.")
    ] = 0.0,
    cap: Annotated[list[str] | None, typer.Option(help="Row cap override API=N (repeatable).")] = None,
    deny: Annotated[list[str] | None, typer.Option(help="Answer this API with a permission error.")] = None,
) -> None:
    """Serve the Tushare-compatible simulator on loopback until Ctrl-C."""
    from neo.sim.serve import serve_forever

    faults = {
        k: v
        for k, v in {
            "http_5xx": p_5xx,
            "slow": p_slow,
            "quota": p_quota,
            "malformed": p_malformed,
            "db_error": p_db_error,
        }.items()
        if v is not None
    }
    caps = {k: _int_value(k, v) for k, v in _pairs(cap or [], "--cap").items()}
    serve_forever(
        host=host,
        port=port,
        stocks=stocks,
        start=start,
        end=end,
        seed=seed,
        token=token,
        quota=quota,
        quota_window=quota_window,
        latency_ms=latency_ms,
        fault_rate=fault_rate,
        faults=faults,
        slow_ms=slow_ms,
        revise_rate=revise_rate,
        caps=caps,
        deny=frozenset(deny or []),
    )


def _int_value(key: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"bad value for {key}: {value!r} is not a whole number") from None


def _interrupted(exc: Exception) -> bool:
    """Ctrl-C during a DuckDB query surfaces as DuckDB's own error, not KeyboardInterrupt."""
    import duckdb

    return isinstance(exc, duckdb.InterruptException) or (
        isinstance(exc, RuntimeError) and str(exc) == "Query interrupted"
    )


# Click's own errors (bad option values, ranges, choices, missing arguments, unknown options). typer
# re-exports BadParameter but not their base class, which it vendors from 0.2x on.
_CLICK_ERROR: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def _usage_line(exc: Exception) -> str:
    """A Click error as one line: what is wrong, and where the command's help is. Click's messages
    may span lines (a list of choices); typer's range checks say "Value error, "."""
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None else "neo"
    message = " ".join(exc.format_message().replace("Value error, ", "").split())  # type: ignore[attr-defined]
    return f"{command}: {message.rstrip('.')} (see `{command} --help`)"


def main() -> None:
    """Console entry point: every NeoError, and every error of the command line itself, becomes one
    line on stderr and a non-zero exit."""
    try:
        code = app(standalone_mode=False)  # Click's errors come here, not into its usage box
    except NeoError as exc:
        print(f"error: {logs.redact(first_line(str(exc)))}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except _CLICK_ERROR as exc:
        if exc.format_message().strip():  # type: ignore[attr-defined]
            print(f"error: {logs.redact(_usage_line(exc))}", file=sys.stderr)
        # else Click's no_args_is_help, which has shown the help already
        sys.exit(exc.exit_code)  # type: ignore[attr-defined]
    except (KeyboardInterrupt, typer.Abort):
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:
        if _interrupted(exc):
            print("interrupted", file=sys.stderr)
            sys.exit(130)
        if os.environ.get("NEO_DEBUG"):
            raise
        if (known := explain(exc)) is not None:
            print(f"error: {logs.redact(str(known))}", file=sys.stderr)
            sys.exit(known.exit_code)
        print(
            f"error: unexpected {type(exc).__name__}: {logs.redact(first_line(str(exc)))} "
            "(set NEO_DEBUG=1 for a traceback)",
            file=sys.stderr,
        )
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)  # typer.Exit(n) from a command returns n here


if __name__ == "__main__":
    main()
