"""How commands show their results on a terminal: the one place that turns what the domain modules
return (plain dataclasses) into Rich tables and lines. Commands in cli.py parse, call, and hand the
result here; nothing below this layer prints."""

from __future__ import annotations

import sys

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from neo.core.config import Settings
from neo.datasets import get
from neo.lake.ledger import DatasetProgress
from neo.legacy.compare import LegacyReport
from neo.report.status import LakeStatus
from neo.report.verify import DatasetHealth


def out(stderr: bool = False) -> Console:
    """The console a command prints its result to: wide enough for paths when not a terminal."""
    return Console(stderr=stderr, width=None if sys.stdout.isatty() else 160, highlight=False)


def print_lines(console: Console, table: Table, lines: list[str]) -> None:
    console.print(table)
    for line in lines:
        console.print(line, markup=False)


class LiveDownload:
    """`neo download`'s live table on stderr (runner.Progress): calls, rows and rate against the
    quota per dataset, queue depths, time."""

    def __init__(self, settings: Settings, console: Console | None = None) -> None:
        self.settings = settings
        self.console = console or Console(stderr=True)
        self.live: Live | None = None

    def planned(self, line: str) -> None:
        self.console.print(line)
        self.live = Live(console=self.console, refresh_per_second=4, transient=False)
        self.live.start()

    def update(self, progress: dict[str, DatasetProgress], depths: dict[str, int], elapsed: float) -> None:
        if self.live is not None:
            self.live.update(download_table(progress, self.settings, depths, elapsed))

    def stopped(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None
        self.console.line()

    def say(self, line: str) -> None:
        self.console.print(line)


def download_table(
    progress: dict[str, DatasetProgress], settings: Settings, depths: dict[str, int], elapsed: float
) -> Group:
    table = Table("dataset", "calls", "rows", "calls/min", "quota/min", "ETA", "errors", title="neo download")
    for p in progress.values():
        api = get(p.dataset).api
        quota = settings.quota_for(api)
        per_window = quota * 60 / settings.quota_window if quota else 0
        rate = p.recent  # finished in the last 60 s
        eta = "-" if p.remaining == 0 else (f"{p.remaining / rate:.0f} min" if rate else "?")
        table.add_row(
            p.dataset,
            f"{p.done + p.failed}/{p.total}",
            f"{p.rows:,}",
            str(rate),
            f"{per_window:g}" if per_window else "none",
            eta,
            str(p.failed) if p.failed else "",
        )
    queues = ", ".join(f"{k} {v}" for k, v in depths.items())
    return Group(table, f"queues: {queues}; {elapsed:.0f}s")


def status_notes(result: LakeStatus) -> list[str]:
    """What `neo status` says below its table: days downloaded per stock only, files without rows,
    and a data root with nothing downloaded."""
    out = [per_stock_line(d.dataset, d.per_stock_only) for d in result.datasets if d.per_stock_only]
    out += [
        f"{d.dataset}: its files ({d.files}) hold no rows: calls that returned none, kept as empty "
        "files by an earlier neo (now the ledger alone records such calls); no query sees them"
        for d in result.datasets
        if d.files and not d.rows
    ]
    if not any(d.files for d in result.datasets):
        out.append(f"nothing is downloaded in {result.home.absolute()} yet: run `neo download`")
    return out


def per_stock_line(name: str, days: list[str]) -> str:
    """What `neo status` and `neo verify` say of days downloaded per stock only."""
    shown = ", ".join(days[:5]) + (f" (+{len(days) - 5})" if len(days) > 5 else "")
    return (
        f"{name}: {len(days)} days downloaded for some stocks only (neo download --codes), not the whole "
        f"market: {shown}; neo download {name} --start {days[0]} --end {days[-1]} fills them"
    )


def status(result: LakeStatus) -> tuple[Table, list[str], Table | None]:
    """`neo status`: the lake table, the lines below it, and the failed requests (if any)."""
    table = Table("dataset", "rows", "files", "from", "to", "missing", "updated (UTC)", title="lake")
    for d in result.datasets:
        missing = ", ".join(d.missing[:5]) + (f" (+{len(d.missing) - 5})" if len(d.missing) > 5 else "")
        table.add_row(
            d.dataset,
            f"{d.rows:,}",
            str(d.files),
            str(d.first or "-"),
            str(d.last or "-"),
            missing or "-",
            f"{d.updated:%Y-%m-%d %H:%M}" if d.updated else "-",
        )
    lines = ["queues: " + ", ".join(f"{k} {v} waiting" for k, v in result.depths.items())]
    lines += status_notes(result)
    failed = None
    if result.failed:
        title = f"{len(result.failed)} failed (retry: neo download --retry-failed)"
        failed = Table("dataset", "request", "reason", title=title)
        for e in result.failed:
            failed.add_row(e.dataset, e.request, e.error or "")
    return table, lines, failed


def verify(health: list[DatasetHealth]) -> tuple[Table, list[str]]:
    """`neo verify`: a table per dataset, then each problem on a line and a verdict line."""
    table = Table("dataset", "files", "rows", "bad files", "repeated keys", "missing dates", "result")
    table.title = "lake checks"
    lines: list[str] = []
    for h in health:
        table.add_row(
            h.dataset,
            f"{h.files:,}",
            f"{h.rows:,}",
            str(len(h.bad_files)),
            str(h.duplicate_keys + h.conflicting_keys),
            str(len(h.missing)),
            "ok" if h.ok else "PROBLEMS",
        )
        lines += [f"{h.dataset}: {path}: {why}" for path, why in h.bad_files]
        lines += [f"{h.dataset}: {example}" for example in h.examples]
        if h.missing:
            more = f" (+{len(h.missing) - 10})" if len(h.missing) > 10 else ""
            lines.append(f"{h.dataset}: missing {', '.join(h.missing[:10])}{more}")
        if h.per_stock_only:
            lines.append(per_stock_line(h.dataset, h.per_stock_only))
        if h.unlike_daily:
            more = f" (+{len(h.unlike_daily) - 5} days)" if len(h.unlike_daily) > 5 else ""
            lines.append(
                f"{h.dataset}: {len(h.unlike_daily)} days whose bars do not add up to their daily bar: "
                f"{'; '.join(h.unlike_daily[:5])}{more}"
            )
        lines += [f"{h.dataset}: not checked: {why}" for why in h.not_checked]
    bad = [h.dataset for h in health if not h.ok]
    if bad:
        lines.append(f"problems in {', '.join(bad)}")
    elif not any(h.files for h in health):
        lines.append(
            f"nothing to verify: none of the {len(health)} datasets checked holds any data; run `neo "
            "download`, or point NEO_HOME at the data root neo downloaded into"
        )
    else:
        lines.append(f"lake OK: {len(health)} datasets checked")
    return table, lines


def legacy(report: LegacyReport) -> tuple[Table, list[str]]:
    """`neo verify --legacy`: a table per dataset, then the differing keys and a verdict line."""
    table = Table("dataset", "legacy table", "years", "rows (legacy)", "rows (lake)", "result")
    table.title = f"the lake against {report.legacy}"
    lines: list[str] = []
    for d in report.datasets:
        problems = [d.error] if d.error else []
        problems += [f"{p.name}: {p.describe()}" for p in d.partitions if not p.equal]
        if d.repeated_keys:
            problems.append(f"the legacy table repeats {d.repeated_keys:,} keys")
        table.add_row(
            d.dataset,
            d.table,
            str(len(d.partitions)),
            f"{d.legacy_rows:,}",
            f"{d.lake_rows:,}",
            "equal" if d.equal else "; ".join(problems),
        )
        if d.differing_keys:
            lines.append(f"{d.dataset}: {d.differing_keys:,} differing keys, the first {len(d.diffs)}:")
            lines += [f"  {diff.describe()}" for diff in d.diffs]
    if report.unknown_tables:
        lines.append(f"not compared, tables of no dataset: {', '.join(report.unknown_tables)}")
    differ = [d.dataset for d in report.datasets if not d.equal]
    rows = sum(d.lake_rows for d in report.datasets)
    lines.append(
        f"NOT equal: {len(differ)} of {len(report.datasets)} datasets differ ({', '.join(differ)})"
        if differ
        else f"equal: {len(report.datasets)} datasets, {rows:,} rows, every row identical"
    )
    return table, lines
