"""The benchmark suite: the benchmarks of the earlier issues side by side in one run, at a base size N
and at 10N, written to docs/BENCHMARKS.md (`make bench`; `make bench SIZE=medium`, `SIZE=large`).

Data: `--stocks` stocks x `--days` trading days (weekdays from 2015-01-05) of daily bars, one
whole-market batch per day (bench_lake.make_batch), then the last days/50 days (at least one at N)
delivered again with revised values. N is `--days` days, 10N is `--factor` x as many days of the same
market: the data grows along its history, as a lake does, one year = one partition. At each size:
  1. the history written through the lake writer (fsync on) and, for the same deliveries, upserted
     into a legacy DuckDB table (legacy_writer.create_table + upsert, one batch at a time, one
     connection: what DBOperator.upsert did); then `--new-days` more days written on top of that
     history, interleaved rounds of: bare pq.write_table (defaults, and the lake's encoding options),
     the lake write path (fsync on and off) into a hard-linked copy of the lake, and the legacy
     upsert into a copy of the legacy database (bench_lake);
  2. `neo compact daily` then `neo vacuum --older-than 0s` on a hard-linked copy of the lake, each in its
     own process under `--memory-limit`: wall time and peak RSS from wait4 (bench_compact);
  3. bytes on disk: the fresh small files, the compacted files, the legacy .db file, for the same rows;
  4. queries (one stock's history, one day's cross-section, a full-table aggregate) on the small files,
     the compacted lake and the legacy table, interleaved rounds, medians (bench_compact), after
     checking that all three hold the same rows.
Once: 2 writer processes against 1 (fsync on), 250 days (bench_lake); quota use of the pipeline
against the simulator (500 calls/min) with `--workers` fast workers over `--window` seconds each, and
quota-off end-to-end throughput over days/261 years, at least one (bench_queue).

Sizes (every value can be overridden by its option):
  small  (default, about 4 minutes on 2 cores): 5,000 stocks (a whole-market day) x 52 days (N =
         260,000 rows; 10N = 520 days, 2 years, 2.6M rows); compaction memory limit 128MB (a year is
         about 1x the limit); 5 rounds; 100 new days; quota use with 1 and 4 workers over 24 s each;
  medium (about 8 minutes): 5,000 stocks x 259 days (N = 2015 from its first Monday, 1.3M rows;
         10N = 10 years, 13M rows); 256MB; 100 new days; quota use with 1, 4 and 16 workers over 36 s each;
  large  (10-15 minutes, estimated): 5,000 stocks x 392 days (10N = 3,920 days = 15 years, 19.6M rows:
         issue 5's full size); 450MB; 250 new days; quota use as medium.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib import metadata
from pathlib import Path

import _support  # noqa: F401  (tests/support on the import path)
import bench_compact as bc
import bench_lake as bl
import bench_queue as bq
import duckdb
import numpy as np
import pyarrow as pa
from tests.support.legacy_writer import create_table, upsert
from tests.support.processes import neo_command

from neo.core.config import Settings, load_settings
from neo.lake.catalog import sync
from neo.lake.query import connect

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "docs" / "BENCHMARKS.md"
MB = bc.MB
SPEC = bl.SPEC
QUOTA_PER_MIN = bq.QUOTA * 60 / bq.QUOTA_WINDOW
WRITER_DAYS = 250  # days written by 1 and then 2 processes (bench_lake's default)
RSS_OVER = 300 * MB  # goal: compaction peak RSS <= memory limit + 300 MB

# Goals, as the README and the issues state them.
GOAL_WRITE = 0.8  # lake write path >= 0.8x the throughput of a bare Parquet write
GOAL_WRITERS = 1.7  # 2 writer processes >= 1.7x one
GOAL_QUOTA = 0.95  # >= 95% of the quota, no refusals
GOAL_SPEEDUP = 20.0  # one stock / one day: 20x faster after compaction
GOAL_NATIVE = 1.5  # one stock / one day: within 1.5x of a native DuckDB table


@dataclass(frozen=True)
class Size:
    stocks: int
    days: int
    memory_limit: str
    new_days: int
    workers: tuple[int, ...]
    window: float
    rounds: int = 5
    factor: int = 10
    threads: int = 2


SIZES = {
    "small": Size(stocks=5000, days=52, memory_limit="128MB", new_days=100, workers=(1, 4), window=24),
    "medium": Size(stocks=5000, days=259, memory_limit="256MB", new_days=100, workers=(1, 4, 16), window=36),
    "large": Size(stocks=5000, days=392, memory_limit="450MB", new_days=250, workers=(1, 4, 16), window=36),
}

# Write paths of part 1, in the order each round runs them.
BARE, BARE_ENC, LAKE, LAKE_NOSYNC, LEGACY = (
    "bare pq.write_table (defaults)",
    "bare pq.write_table, the lake's encoding options",
    "**lake write path, fsync on (default)**",
    "lake write path, fsync off",
    "legacy upsert into the table holding the history",
)
HIST, DAY, AGG = bc.QUERIES
VARIANTS = {"small": "small files (view)", "compacted": "compacted (view)", "native": "legacy table"}


# --- the run --------------------------------------------------------------------------------------


class Clock:
    """Progress lines with the elapsed time, and the 1-minute load average at each step."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.loads: list[float] = [os.getloadavg()[0]]

    def say(self, text: str) -> None:
        self.loads.append(os.getloadavg()[0])
        elapsed = int(time.monotonic() - self.started)
        print(f"[{elapsed // 60:02d}:{elapsed % 60:02d}] {text}", flush=True)

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started


@dataclass
class Scale:
    """Everything measured at one data size."""

    label: str
    days: int
    revisions: int
    gen: bc.Generated
    legacy_seconds: float
    legacy_batch_ms: tuple[float, float]  # median upsert ms over the first and the last 10% of the history
    writes: dict[str, float]  # path -> median ms per batch
    new_rows: int
    compact: bc.Run  # the run that succeeded
    compact_failed: list[bc.Run]  # runs that failed first, at lower memory limits
    vacuum: bc.Run
    baseline: bc.Run
    files_small: int
    files_compacted: int
    bytes_small: int
    bytes_compacted: int
    bytes_legacy: int
    sums: dict[str, tuple[int, float, int]]
    medians: dict[tuple[str, str], float]
    result_rows: dict[tuple[str, str], int]


@dataclass
class Results:
    size_name: str
    size: Size
    scales: list[Scale] = field(default_factory=list)
    writers: dict[int, float] = field(default_factory=dict)  # processes -> median seconds
    writer_rows: int = 0
    writer_load: tuple[float, float] = (0.0, 0.0)  # 1-minute load average before and after
    quota: list[tuple[int, float, int, int]] = field(default_factory=list)  # workers, calls/min, ...
    throughput: dict[int, dict[str, float]] = field(default_factory=dict)  # years -> bench_queue figures


def build_legacy(db: Path, stocks: int, days: list[date], revisions: int) -> tuple[float, list[float]]:
    """Upsert every delivery into a new legacy database; (seconds of the upserts, seconds per batch)."""
    con = duckdb.connect(str(db))
    create_table(con, SPEC)
    per_batch = []
    for day, seed in bc.deliveries(days, revisions):
        batch = bl.make_batch(day, stocks, seed)
        started = time.perf_counter()
        upsert(con, SPEC, batch)
        per_batch.append(time.perf_counter() - started)
    con.close()
    return sum(per_batch), per_batch


def write_rounds(
    root: Path, s_before: Settings, legacy_db: Path, batches: list[pa.Table], rounds: int
) -> dict[str, float]:
    """The new days written on top of the history, each path in turn per round: median ms per batch."""
    fetched = datetime.now(UTC)
    rejected = root / "rejected"
    makers: dict[str, Callable[[Path], bl.WriteFn]] = {
        BARE: bl.bare_path(False),
        BARE_ENC: bl.bare_path(True),
        LAKE: bl.lake_path(rejected, fetched, fsync=True),
        LAKE_NOSYNC: bl.lake_path(rejected, fetched, fsync=False),
    }
    per_batch: dict[str, list[float]] = {n: [] for n in [*makers, LEGACY]}
    for r in range(rounds):
        for i, (name, make) in enumerate(makers.items()):
            target = root / f"w{i}-{r}"
            if name in (LAKE, LAKE_NOSYNC):
                bc.link_copy(s_before.home, target)  # the lake with its history, files hard-linked
                target = load_settings(home=target).lake_dir
            per_batch[name].append(bl.timed(make(target), batches)[0])
            shutil.rmtree(root / f"w{i}-{r}")
        db = root / f"legacy-copy-{r}.db"
        shutil.copyfile(legacy_db, db)
        per_batch[LEGACY].append(bl.legacy_upsert(db, batches, [])[0])
        db.unlink()
    return {n: statistics.median(per_batch[n]) * 1000 for n in per_batch}


def measure(size: Size, n_days: int, label: str, root: Path, clock: Clock) -> Scale:
    home = root / label
    s_before, s_after = load_settings(home=home / "before"), load_settings(home=home / "after")
    days = bl.trading_days(n_days)
    revisions = max(1, size.days // 50) * n_days // size.days  # grows with the data, like the days
    clock.say(f"{label}: writing {n_days:,} days x {size.stocks:,} stocks (+{revisions} revised) to the lake")
    gen = bc.write_history(s_before, size.stocks, days, revisions)
    clock.say(
        f"{label}: {gen.rows:,} rows written in {gen.seconds:.1f} s; upserting them into a legacy table"
    )
    legacy_db = home / "legacy.db"
    legacy_seconds, legacy_batches = build_legacy(legacy_db, size.stocks, days, revisions)
    tenth = max(1, len(legacy_batches) // 10)
    legacy_batch_ms = (
        statistics.median(legacy_batches[:tenth]) * 1000,
        statistics.median(legacy_batches[-tenth:]) * 1000,
    )
    clock.say(f"{label}: legacy table built in {legacy_seconds:.1f} s; writing {size.new_days} more days")
    new_days = bl.trading_days(n_days + size.new_days)[n_days:]
    batches = [bl.make_batch(d, size.stocks, 1) for d in new_days]
    writes = write_rounds(home, s_before, legacy_db, batches, size.rounds)

    clock.say(f"{label}: compaction at {size.memory_limit}")
    bc.link_copy(s_before.home, s_after.home)
    sync(s_before)
    sync(s_after)
    env = bc.child_env(s_after.home, home, size.memory_limit, size.threads)
    baseline = bc.run_child("baseline", [sys.executable, "-c", bc.BASELINE], env, home, home / "baseline.log")
    compact_runs = compact_until_done(size, home, s_after, label, clock)
    env = bc.child_env(s_after.home, home, compact_runs[-1].memory_limit, size.threads)
    vacuum_cmd = [*neo_command(), "vacuum", "--older-than", "0s"]
    vacuum = bc.run_child("vacuum", vacuum_cmd, env, home, home / "vacuum.log")
    if vacuum.code:
        raise SystemExit(f"{label}: vacuum failed (exit {vacuum.code}): {vacuum.tail}")
    compact = compact_runs[-1]
    sync(s_after)
    small = bc.data_files(s_before.lake_dir / SPEC.name)
    compacted = bc.data_files(s_after.lake_dir / SPEC.name)
    clock.say(
        f"{label}: compacted in {compact.wall:.1f} s, peak RSS {bc.mb(compact.peak_rss)}; "
        f"{len(small):,} -> {len(compacted):,} files; checking rows"
    )
    with (
        connect(s_before) as a,
        connect(s_after) as b,
        duckdb.connect(str(legacy_db), read_only=True) as n,
    ):
        sums = {"small": bc.checksum(a), "compacted": bc.checksum(b), "native": bc.checksum(n)}
    if not (bc.same(sums["small"], sums["compacted"]) and bc.same(sums["small"], sums["native"])):
        raise SystemExit(f"{label}: the three variants hold different rows: {sums}")

    clock.say(f"{label}: queries, {size.rounds} rounds")
    all_codes = bl.make_batch(days[0], size.stocks, 1).column("ts_code").to_pylist()
    codes = [all_codes[(r * 7919 + 17) % size.stocks] for r in range(size.rounds + 1)]
    q_days = [days[(r * 104_729 + 3) % len(days)] for r in range(size.rounds + 1)]
    variants: dict[str, Callable[[], duckdb.DuckDBPyConnection]] = {
        "small": lambda: connect(s_before),
        "compacted": lambda: connect(s_after),
        "native": lambda: duckdb.connect(str(legacy_db), read_only=True),
    }
    medians, result_rows = bc.query_times(variants, size.rounds, codes, q_days)
    return Scale(
        label=label,
        days=n_days,
        revisions=revisions,
        gen=gen,
        legacy_seconds=legacy_seconds,
        legacy_batch_ms=legacy_batch_ms,
        writes=writes,
        new_rows=sum(b.num_rows for b in batches),
        compact=compact,
        compact_failed=compact_runs[:-1],
        vacuum=vacuum,
        baseline=baseline,
        files_small=len(small),
        files_compacted=len(compacted),
        bytes_small=bc.disk_bytes(small),
        bytes_compacted=bc.disk_bytes(compacted),
        bytes_legacy=sum(p.stat().st_size for p in home.glob("legacy.db*")),
        sums=sums,
        medians=medians,
        result_rows=result_rows,
    )


def compact_until_done(size: Size, home: Path, s_after: Settings, label: str, clock: Clock) -> list[bc.Run]:
    """`neo compact daily` at the memory limit; if it fails, again at twice the limit (up to 3 times), so
    that a failure is reported with the limit at which compaction did complete."""
    runs = []
    limit = bc.parse_size(size.memory_limit)
    for attempt in range(4):
        this = size.memory_limit if attempt == 0 else f"{limit * 2**attempt // MB}MB"
        env = bc.child_env(s_after.home, home, this, size.threads)
        cmd = [*neo_command(), "compact", SPEC.name]
        run = bc.run_child("compact", cmd, env, home, home / f"compact-{attempt}.log")
        run.memory_limit = this
        runs.append(run)
        if run.code == 0:
            return runs
        clock.say(f"{label}: neo compact failed at {this} (exit {run.code}): {run.tail}")
    raise SystemExit(f"{label}: neo compact failed at every memory limit up to {runs[-1].memory_limit}")


def writer_scaling(size: Size, root: Path) -> tuple[dict[int, float], int]:
    days = bl.trading_days(WRITER_DAYS)
    runs: dict[int, list[float]] = {1: [], 2: []}
    for r in range(size.rounds):
        for workers in runs:
            lake = root / f"par-{workers}-{r}"
            runs[workers].append(bl.parallel(lake, days, size.stocks, workers, True))
            shutil.rmtree(lake)
    return {w: statistics.median(t) for w, t in runs.items()}, len(days) * size.stocks


# --- the machine ----------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def ram() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.system()


def filesystem(path: Path) -> str:
    """The filesystem type and device of the mount that holds `path` (from /proc/mounts)."""
    best = ("", "unknown", "")
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return "unknown"
    text = str(path.resolve())
    for line in mounts:
        dev, mnt, fstype, *_ = line.split()
        mnt = mnt.replace("\\040", " ")
        inside = text == mnt or text.startswith(mnt.rstrip("/") + "/")
        if inside and len(mnt) >= len(best[0]):
            best = (mnt, fstype, dev)
    return f"{best[1]} ({best[2]} on {best[0]})"


def git_commit() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "--no-optional-locks", *args], cwd=REPO, capture_output=True, text=True, check=False
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return commit + (" with uncommitted changes" if dirty else "")


def version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


def command_line(argv: list[str], size_name: str) -> str:
    python = Path(sys.executable)
    shown = os.path.relpath(python, Path.cwd()) if python.is_relative_to(Path.cwd()) else str(python)
    direct = shlex.join([shown, os.path.relpath(__file__, Path.cwd()), *argv])
    if "MAKELEVEL" not in os.environ:
        return f"`{direct}`"
    extra = [a for a in argv if a not in ("--size", size_name)]
    make = "make bench" + (f" SIZE={size_name}" if size_name != "small" else "")
    make += f" BENCH_ARGS={shlex.quote(shlex.join(extra))}" if extra else ""
    return f"`{make}`, which runs `{direct}`"


# --- the report -----------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return bc.ms(seconds)


def num(n: float) -> str:
    return f"{n:,.0f}"


def grow(a: float, b: float) -> str:
    return f"x{b / a:.1f}" if a > 0 else "-"


def ratio(value: float, goal: float) -> str:
    """A ratio with 2 decimals, or 3 where 2 would round it onto its goal."""
    return f"{value:.3f}x" if round(value, 2) == goal else f"{value:.2f}x"


def mark(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def report(r: Results, clock: Clock, started: datetime, command: str, work: Path) -> list[str]:
    size, n, big = r.size, r.scales[0], r.scales[-1]
    limit = bc.parse_size(size.memory_limit)
    f = size.factor
    loads = clock.loads
    lines = [
        "<!-- Generated by `make bench` (bench/suite.py). Do not edit: rerun `make bench` "
        "(or `make bench SIZE=medium|large`) to regenerate. -->",
        "",
        "# Benchmarks",
        "",
        "> This file is generated: `make bench` regenerates it (small size, a few minutes); "
        "`make bench SIZE=medium` or `SIZE=large` for bigger data; `.venv/bin/python bench/suite.py --help` "
        "for every option. The figures below are from one run of the command shown under *Machine and run*.",
        "",
        f"Size **{r.size_name}**: N = {size.stocks:,} stocks x {n.days:,} trading days "
        f"({n.gen.rows:,} rows written, {bc.mb(n.gen.arrow_bytes)} in memory as Arrow); "
        f"{f}N = the same market over {big.days:,} days "
        f"({big.gen.rows:,} rows, {bc.mb(big.gen.arrow_bytes)}){overrides(r)}. "
        "The data grows along its history, as a lake does: more days of the same stocks, one Parquet file "
        f"per day, one partition per calendar year ({years(n.days)} at N, {years(big.days)} at {f}N). "
        f"The last days ({n.revisions} at N, {big.revisions} at {f}N) are delivered a second time with "
        "revised values, so the lake holds two versions of those keys and the views and compaction must keep "
        "the latest.",
        "",
        "## Machine and run",
        "",
        "| | |",
        "|---|---|",
        f"| CPU | {cpu_model()}, {os.cpu_count()} logical CPUs |",
        f"| RAM | {ram()} |",
        f"| OS | {os_name()}, Linux kernel {platform.release()} ({platform.machine()}) |",
        f"| software | Python {platform.python_version()}, DuckDB {duckdb.__version__}, "
        f"PyArrow {pa.__version__}, NumPy {np.__version__}, neo {version('neo')} (git {git_commit()}) |",
        f"| work directory | `{work}` on {filesystem(work)} |",
        f"| date | {started:%Y-%m-%d %H:%M} UTC; the run took {clock.seconds / 60:.1f} minutes |",
        f"| command | {command} |",
        f"| load | 1-minute load average {min(loads):.2f} to {max(loads):.2f} during the run "
        f"({os.cpu_count()} CPUs) |",
        "",
        "**How to read the figures.** Timings are medians of "
        f"{size.rounds} rounds; where several variants are compared, each round runs them one after the "
        "other (interleaved), so drift hits them alike, and the ratios come from the same run. This "
        "machine is small and noisy: a virtual machine with few cores and a virtual disk, shared with other "
        "work (a test suite may run alongside; the load average above shows how busy it was). Expect "
        "10-20% spread of absolute figures from run to run; trust the ratios more than the absolute "
        "values, and compare runs only on the same machine.",
        "",
    ]
    lines += summary(r, n, big, limit)
    lines += growth(r, n, big, limit)
    lines += writes_section(r, n, big)
    lines += quota_section(r)
    lines += compaction_section(r, n, big, limit)
    lines += queries_section(r, n, big)
    lines += bytes_section(n, big)
    lines += query_workload_section()
    lines += serve_section()
    lines += minutes_section()
    lines += commands_section()
    lines += [
        "## Sizes",
        "",
        "| size | stocks | N: days | 10N: days | rows at 10N | compaction memory limit | new days written "
        "| quota use: workers, window |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, s in SIZES.items():
        rows_10n = s.stocks * s.days * s.factor
        lines.append(
            f"| `{name}`{' (default)' if name == 'small' else ''} | {s.stocks:,} | {s.days:,} | "
            f"{s.days * s.factor:,} | {rows_10n / 1e6:,.1f}M | {s.memory_limit} | {s.new_days} | "
            f"{', '.join(map(str, s.workers))}; {s.window:g} s |"
        )
    lines += [
        "",
        "`make bench` runs `small` in about 4 minutes on this machine and `medium` in about 8; `large` "
        "(issue 5's full size at 10N) should take 10-15 (an estimate from `medium`). Any value can be "
        "overridden, e.g. "
        "`make bench BENCH_ARGS='--stocks 2000 --rounds 3'`; the work directory (default: under $TMPDIR, "
        "deleted afterwards) is chosen with `--root`. The standalone benchmarks (`make bench-lake`, "
        "`bench-queue`, `bench-compact`, `bench-sim`) measure more variants at one size each and write "
        "`bench/results/`.",
    ]
    return lines


def summary(r: Results, n: Scale, big: Scale, limit: int) -> list[str]:
    f = r.size.factor

    def write_ratio(s: Scale) -> float:
        return s.writes[BARE] / s.writes[LAKE]

    speedup = r.writers[1] / r.writers[2]
    quota_ok = all(rate >= GOAL_QUOTA * QUOTA_PER_MIN and refused == 0 for _, rate, refused, _ in r.quota)
    quota_txt = ", ".join(
        f"{rate / QUOTA_PER_MIN:.1%} ({w} worker{'s' if w > 1 else ''})" for w, rate, _, _ in r.quota
    )
    refusals = sum(refused for _, _, refused, _ in r.quota)

    def rss(s: Scale) -> str:
        used = bc.parse_size(s.compact.memory_limit)
        over = s.compact.peak_rss - used
        text = f"{bc.mb(s.compact.peak_rss)} (limit {'+' if over >= 0 else '-'} {bc.mb(abs(over))})"
        if s.compact_failed:
            failed = ", ".join(run.memory_limit for run in s.compact_failed)
            text = f"failed at {failed}; at {s.compact.memory_limit}: {text}"
        return text

    rss_ok = all(not s.compact_failed and s.compact.peak_rss <= limit + RSS_OVER for s in (n, big))

    def qratio(s: Scale, q: str, a: str, b: str) -> float:
        return s.medians[q, a] / s.medians[q, b]

    hist, day = HIST, DAY
    lines = [
        "## Summary: the goals",
        "",
        "Each goal is the one stated in the README (and the issue that introduced the benchmark); "
        f"the figure is measured in this run, at N and at {f}N where it depends on the data.",
        "",
        f"| goal | at N | at {f}N | |",
        "|---|---|---|---|",
        f"| lake write path (fsync on) >= {GOAL_WRITE}x the throughput of a bare Parquet write | "
        f"{ratio(write_ratio(n), GOAL_WRITE)} | {ratio(write_ratio(big), GOAL_WRITE)} | "
        f"{mark(min(write_ratio(n), write_ratio(big)) >= GOAL_WRITE)} |",
        f"| 2 writer processes >= {GOAL_WRITERS}x one | {ratio(speedup, GOAL_WRITERS)} | "
        f"(not data-dependent: measured once) | {mark(speedup >= GOAL_WRITERS)} |",
        f"| pipeline uses >= {GOAL_QUOTA:.0%} of the quota, no refusals | {quota_txt}; {refusals} refused | "
        f"(bound by the quota, not the data) | {mark(quota_ok)} |",
        f"| compaction completes at the memory limit ({r.size.memory_limit}), peak RSS <= limit + 300 MB | "
        f"{rss(n)} | {rss(big)} | {mark(rss_ok)} |",
    ]
    for q in (hist, day):
        a, b = qratio(n, q, "small", "compacted"), qratio(big, q, "small", "compacted")
        lines.append(
            f"| {q}: >= {GOAL_SPEEDUP:.0f}x faster after compaction | {a:.1f}x | {b:.1f}x | "
            f"{mark(min(a, b) >= GOAL_SPEEDUP)} |"
        )
    for q in (hist, day):
        a, b = qratio(n, q, "compacted", "native"), qratio(big, q, "compacted", "native")
        lines.append(
            f"| {q}: compacted lake within {GOAL_NATIVE}x of the legacy DuckDB table | {a:.2f}x | "
            f"{b:.2f}x | {mark(max(a, b) <= GOAL_NATIVE)} |"
        )
    lines += [
        "| the lake keeps the legacy semantics: one row per key, latest wins, same rows as the legacy "
        f"table (count, sum, hash of every row) | {agree(n)} | {agree(big)} | "
        f"{mark(agree(n) == agree(big) == 'identical')} |",
        "",
    ]
    return lines


def overrides(r: Results) -> str:
    preset = SIZES[r.size_name]
    changed = [f"{k}={v}" for k, v in r.size.__dict__.items() if getattr(preset, k) != v]
    return f" (the `{r.size_name}` preset with {', '.join(changed)})" if changed else ""


def agree(s: Scale) -> str:
    ok = bc.same(s.sums["small"], s.sums["native"]) and bc.same(s.sums["compacted"], s.sums["native"])
    return "identical" if ok else "DIFFERENT"


def growth(r: Results, n: Scale, big: Scale, limit: int) -> list[str]:
    f = r.size.factor
    limits = (
        ""
        if n.compact.memory_limit == big.compact.memory_limit
        else (f"; memory limit {n.compact.memory_limit} at N, {big.compact.memory_limit} at {f}N")
    )
    rows: list[tuple[str, float, float, Callable[[float], str]]] = [
        ("rows written (with the revised days)", n.gen.rows, big.gen.rows, num),
        ("writing the history: lake writer, fsync on (s)", n.gen.seconds, big.gen.seconds, secs),
        (
            "writing the history: legacy upsert, one batch per day (s)",
            n.legacy_seconds,
            big.legacy_seconds,
            secs,
        ),
    ]
    for path in (BARE, LAKE, LEGACY):
        rows.append((f"writing one more day: {path.strip('*')} (ms)", n.writes[path], big.writes[path], ms2))
    rows += [
        (f"compaction wall time (s){limits}", n.compact.wall, big.compact.wall, secs),
        (f"compaction peak RSS (MB){limits}", n.compact.peak_rss / MB, big.compact.peak_rss / MB, num),
        ("vacuum wall time (s)", n.vacuum.wall, big.vacuum.wall, secs),
        ("files: fresh (one per day)", n.files_small, big.files_small, num),
        ("files: compacted", n.files_compacted, big.files_compacted, num),
        ("bytes on disk: lake, fresh small files (MB)", n.bytes_small / MB, big.bytes_small / MB, mb1),
        ("bytes on disk: lake, compacted (MB)", n.bytes_compacted / MB, big.bytes_compacted / MB, mb1),
        ("bytes on disk: legacy DuckDB database (MB)", n.bytes_legacy / MB, big.bytes_legacy / MB, mb1),
    ]
    for q in bc.QUERIES:
        for v, name in VARIANTS.items():
            rows.append((f"query, {q}: {name} (ms)", n.medians[q, v] * 1000, big.medians[q, v] * 1000, ms2))
    lines = [
        f"## How the figures grow with {f}x the data",
        "",
        f"Every data-dependent figure measured at N and at {f}N in this run; growth = value at {f}N / value "
        f"at N (x{f}.0 is linear). Details and methods in the sections below.",
        "",
        f"| figure | at N | at {f}N | growth |",
        "|---|---|---|---|",
    ]
    for name, a, b, fmt in rows:
        lines.append(f"| {name} | {fmt(a)} | {fmt(b)} | {grow(a, b)} |")
    tp = r.throughput
    if len(tp) == 2:
        (ya, ta), (yb, tb) = tp.items()
        a, b = ta["rows"] / ta["wall"], tb["rows"] / tb["wall"]
        lines.append(
            f"| end-to-end pipeline, quotas off, rows/s ({ya} and {yb} years of {r.size.stocks:,} stocks) "
            f"| {num(a)} | {num(b)} | {grow(a, b)} |"
        )
    lines += [
        f"| pipeline calls/min with the quota on | {r.quota[0][1]:.0f} | bound by the quota "
        f"({QUOTA_PER_MIN:.0f}/min), not by the data | x1 |",
        "",
    ]
    lines += growth_notes(n, big, f)
    return lines


def growth_notes(n: Scale, big: Scale, f: int) -> list[str]:
    def x(a: float, b: float) -> str:
        return f"x{b / a:.1f}"

    w = {p: x(n.writes[p], big.writes[p]) for p in (BARE, LAKE, LEGACY)}
    year_n, year_big = max(n.gen.year_bytes.values()), max(big.gen.year_bytes.values())
    return [
        f"- Writing one more day on top of {f}x the history (interleaved rounds, the steadier figure) costs "
        f"{w[LAKE]} through the lake write path, {w[BARE]} for a bare Parquet write and {w[LEGACY]} "
        "through the legacy upsert: a lake write adds one new file and reads none of the data already "
        "written. "
        f"Building the whole history is one pass per size, not interleaved, so it shows the machine's "
        f"noise most: lake {x(n.gen.seconds, big.gen.seconds)}, "
        f"legacy {x(n.legacy_seconds, big.legacy_seconds)}.",
        f"- Compaction time {x(n.compact.wall, big.compact.wall)}, peak RSS "
        f"{x(n.compact.peak_rss, big.compact.peak_rss)} while the largest partition grew "
        f"{x(year_n, year_big)}"
        + (
            f" (at {f}N only at {big.compact.memory_limit}, after failing at the configured limit: "
            "see section 3)."
            if big.compact_failed and not n.compact_failed
            else "."
        ),
        f"- Queries on the small files grow with the number of files ({n.files_small:,} -> "
        f"{big.files_small:,}): one stock's history "
        f"{x(n.medians[HIST, 'small'], big.medians[HIST, 'small'])}, "
        f"the aggregate {x(n.medians[AGG, 'small'], big.medians[AGG, 'small'])}; after compaction "
        f"{x(n.medians[HIST, 'compacted'], big.medians[HIST, 'compacted'])} and "
        f"{x(n.medians[AGG, 'compacted'], big.medians[AGG, 'compacted'])}.",
        f"- Bytes on disk for {x(n.gen.rows, big.gen.rows)} the rows: lake "
        f"{x(n.bytes_small, big.bytes_small)} (fresh files), "
        f"{x(n.bytes_compacted, big.bytes_compacted)} (compacted), "
        f"legacy database {x(n.bytes_legacy, big.bytes_legacy)}.",
        "",
    ]


def years(days: int) -> int:
    return len({d.year for d in bl.trading_days(days)})


def secs(x: float) -> str:
    return f"{x:,.1f}"


def ms2(x: float) -> str:
    return f"{x:,.2f}" if x < 10 else f"{x:,.1f}" if x < 1000 else f"{x:,.0f}"


def mb1(x: float) -> str:
    return f"{x:,.1f}"


QUERY_RESULTS = REPO / "bench" / "results" / "query.md"
SERVE_RESULTS = REPO / "bench" / "results" / "serve.md"
MINS_RESULTS = REPO / "bench" / "results" / "mins.md"
CLI_RESULTS = REPO / "bench" / "results" / "cli.md"


def included_section(title: str, results: Path, target: str) -> list[str]:
    """A benchmark built and run on its own (`make {target}`): its latest report, included as it
    was written."""
    head = [f"## {title} (`make {target}`)", ""]
    if not results.exists():
        return [*head, f"Not run on this machine yet: run `make {target}`, then `make bench`.", ""]
    body = results.read_text().splitlines()
    if body and body[0].startswith("## "):
        body = body[1:]
    if body and body[0].strip():
        body = ["", *body]
    when = datetime.fromtimestamp(results.stat().st_mtime, UTC)
    note = f"From `make {target}`'s latest report (written {when:%Y-%m-%d %H:%M} UTC), included as it is:"
    return [*head, note, *[f"#{line}" if line.startswith("## ") else line for line in body], ""]


def query_workload_section() -> list[str]:
    """The analysts' workload: its default build takes minutes (5,000 stocks x 10 years)."""
    title = "Analysts' queries: views vs DuckDB's Parquet floor, native DuckDB and the peer layout"
    return included_section(title, QUERY_RESULTS, "bench-query")


def serve_section() -> list[str]:
    """`neo serve` against the simulator: it downloads its own lake from a simulator of its own."""
    return included_section("neo serve against the simulator", SERVE_RESULTS, "bench-serve")


def minutes_section() -> list[str]:
    """Minute bars at scale: 1,000 stocks x a year of 1min bars through the pipeline (`make bench-mins`)."""
    return included_section("Minute bars at scale", MINS_RESULTS, "bench-mins")


def commands_section() -> list[str]:
    """neo's own commands (status, report, a download with nothing to do) against `neo datasets`."""
    return included_section("neo's own commands against the CLI's start-up floor", CLI_RESULTS, "bench-cli")


def writes_section(r: Results, n: Scale, big: Scale) -> list[str]:
    f, size = r.size.factor, r.size
    lines = [
        "## 1. Writing: the lake against the legacy upsert and a bare Parquet write",
        "",
        f"Method: at each size, after the history is in place, {size.new_days} more whole-market days "
        f"({size.stocks:,} rows each, typed as the client returns them) are written by each path in turn, "
        f"{size.rounds} rounds; per path the median time per batch (median over the rounds of each round's "
        "median). The bare writes go "
        "to an empty directory (`pq.write_table(..., compression='zstd')`, nothing else); the lake write "
        "path (`ParquetWriter.write`: cast to the declared schema, sort by key, year partition, temporary "
        "name, fsync of file and directory, rename) writes into a hard-linked copy of the lake holding the "
        "history; the legacy path upserts (`INSERT ... ON CONFLICT DO UPDATE`, one batch at a time) into a "
        "copy of the legacy database holding the same history. *vs bare* = the bare write's time per batch "
        "/ the path's, i.e. the path's throughput relative to a bare write (medians rather than totals, "
        "which bursts of other work on the machine skew); the goal is >= "
        f"{GOAL_WRITE}x for the default lake path.",
        "",
        f"| write path, {size.new_days} days x {size.stocks:,} rows | ms per batch at N | vs bare | "
        f"ms per batch at {f}N | vs bare | growth of ms per batch |",
        "|---|---|---|---|---|---|",
    ]
    for path in n.writes:
        a, b = n.writes[path], big.writes[path]
        lines.append(
            f"| {path} | {a:.2f} | {n.writes[BARE] / a:.2f}x | {b:.2f} | "
            f"{big.writes[BARE] / b:.2f}x | {grow(a, b)} |"
        )
    lake_vs_legacy = [s.writes[LEGACY] / s.writes[LAKE] for s in (n, big)]
    lines += [
        "",
        f"The lake write path is {lake_vs_legacy[0]:.1f}x faster than the legacy upsert at N and "
        f"{lake_vs_legacy[1]:.1f}x at {f}N. Building the whole history one day at a time took "
        f"{n.gen.seconds:.1f} s (lake) against {n.legacy_seconds:.1f} s (legacy) at N, and "
        f"{big.gen.seconds:.1f} s against {big.legacy_seconds:.1f} s at {f}N; one upsert took "
        f"{big.legacy_batch_ms[0]:.1f} ms (median) over the first tenth of the {f}N history and "
        f"{big.legacy_batch_ms[1]:.1f} ms over the last tenth.",
        "",
        f"Method: {size.rounds} rounds alternating 1 and 2 writer processes (forked; batches made before the "
        f"clock starts), each writing {WRITER_DAYS} days x {size.stocks:,} stocks with fsync on into an "
        "empty lake, the days split between the processes; wall time from the start barrier to the last "
        "process done, median. A DuckDB file admits one writing process, so the legacy path cannot add a "
        f"second writer at all. Goal: 2 writers >= {GOAL_WRITERS}x one.",
        "",
        "| writer processes | rows/s | speed-up |",
        "|---|---|---|",
    ]
    for w, t in r.writers.items():
        lines.append(f"| {w} | {r.writer_rows / t:,.0f} | {r.writers[1] / t:.2f}x |")
    before, after = r.writer_load
    lines += [
        "",
        f"The 1-minute load average was {before:.2f} before and {after:.2f} after this measurement "
        f"({os.cpu_count()} CPUs). A second writer is only faster if it finds an idle core, so with other "
        "work running on this machine the speed-up falls.",
        "",
    ]
    return lines


def quota_section(r: Results) -> list[str]:
    size = r.size
    lines = [
        "## 2. Calls per minute against the quota",
        "",
        f"Method: `neo sim serve` in its own process answers after 100 ms and allows {bq.QUOTA} calls per "
        f"{bq.QUOTA_WINDOW:g} s window per API (= {QUOTA_PER_MIN:.0f}/min, Tushare's rate on a shorter "
        "window so that a run takes seconds); the pipeline (fast and slow consumers in this process, "
        "SQLite queues) downloads `daily` with n fast workers; after one window of warm-up, the server's "
        f"count of completed `daily` calls over {size.window:g} s gives calls/min. Goal: >= {GOAL_QUOTA:.0%} "
        "of the quota with no refusals. This figure is bound by the quota, not by the data size: more data "
        "means more calls at the same rate.",
        "",
        f"| fast workers | calls/min | of the {QUOTA_PER_MIN:.0f}/min quota | server refusals "
        "| client quota waits |",
        "|---|---|---|---|---|",
    ]
    for w, rate, refused, waits in r.quota:
        lines.append(f"| {w} | {rate:.0f} | {rate / QUOTA_PER_MIN:.1%} | {refused} | {waits} |")
    lines += [
        "",
        "Throughput with quotas off, end to end (`neo download` of daily + daily_basic + adj_factor: plan, "
        "download with 4 fast workers, write with 2 slow workers, sync), against a simulator with the "
        "same number of stocks:",
        "",
        "| data | calls | rows | wall time | rows/s | calls/min | CPU: download / process / write |",
        "|---|---|---|---|---|---|---|",
    ]
    for years_, t in r.throughput.items():
        split = {k[4:]: v for k, v in t.items() if k.startswith("cpu_")}
        total = sum(split.values()) or 1
        lines.append(
            f"| {size.stocks:,} stocks x {years_} year{'s' if years_ > 1 else ''} | {t['calls']:,.0f} | "
            f"{t['rows']:,.0f} | "
            f"{t['wall']:.1f} s | {t['rows'] / t['wall']:,.0f} | {t['calls'] / t['wall'] * 60:,.0f} | "
            + " / ".join(f"{split.get(k, 0) / total:.0%}" for k in ("download", "process", "write"))
            + " |"
        )
    lines += [
        "",
        "Without a quota the pipeline runs far above Tushare's 500 calls/min on this machine; against the "
        "real service the quota, not the data size or neo, sets the pace.",
        "",
    ]
    return lines


def compaction_section(r: Results, n: Scale, big: Scale, limit: int) -> list[str]:
    f, size = r.size.factor, r.size

    def row(name: str, a: str, b: str, growth: str = "") -> str:
        return f"| {name} | {a} | {b} | {growth} |"

    def over(s: Scale) -> str:
        return bc.mb(s.compact.peak_rss - bc.parse_size(s.compact.memory_limit))

    year = [max(s.gen.year_bytes.values()) for s in (n, big)]
    lines = [
        "## 3. Compaction: time and peak memory against the memory limit",
        "",
        f"Method: `neo compact daily` then `neo vacuum --older-than 0s` on a hard-linked copy of the lake, "
        f"each in its own process with DuckDB memory_limit {size.memory_limit} "
        f"(`NEO_COMPACT_MEMORY_LIMIT`) and {size.threads} threads, fsync on; wall time and peak RSS of that "
        "process (`ru_maxrss` from `os.wait4`, through a small launcher so the benchmark's own memory does "
        "not count). One run per size; if compaction fails, it runs again at twice the limit (up to 3 "
        "times) and the failure is reported. The baseline is a process that imports neo and DuckDB and runs "
        f"`SELECT 1`. Goal: compaction completes at the limit with peak RSS <= the limit + 300 MB = "
        f"{bc.mb(limit + RSS_OVER)}.",
        "",
        row("", "at N", f"at {f}N", "growth"),
        "|---|---|---|---|",
        row(
            "data in memory (Arrow)",
            f"{bc.mb(n.gen.arrow_bytes)} = {n.gen.arrow_bytes / limit:.1f}x the limit",
            f"{bc.mb(big.gen.arrow_bytes)} = {big.gen.arrow_bytes / limit:.1f}x the limit",
            grow(n.gen.arrow_bytes, big.gen.arrow_bytes),
        ),
        row(
            "largest partition (year) in memory",
            f"{bc.mb(year[0])} = {year[0] / limit:.1f}x the limit",
            f"{bc.mb(year[1])} = {year[1] / limit:.1f}x the limit",
            grow(year[0], year[1]),
        ),
        row(
            "files before -> after",
            f"{n.files_small:,} -> {n.files_compacted:,}",
            f"{big.files_small:,} -> {big.files_compacted:,}",
        ),
        row("memory limit at which it completed", n.compact.memory_limit, big.compact.memory_limit),
        row(
            "compaction wall time",
            f"{n.compact.wall:.1f} s",
            f"{big.compact.wall:.1f} s",
            grow(n.compact.wall, big.compact.wall),
        ),
        row(
            "compaction rows/s",
            num(n.gen.rows / n.compact.wall),
            num(big.gen.rows / big.compact.wall),
            grow(n.gen.rows / n.compact.wall, big.gen.rows / big.compact.wall),
        ),
        row(
            "**compaction peak RSS**",
            f"**{bc.mb(n.compact.peak_rss)}**",
            f"**{bc.mb(big.compact.peak_rss)}**",
            grow(n.compact.peak_rss, big.compact.peak_rss),
        ),
        row("peak RSS - memory limit (goal <= 300 MB)", over(n), over(big)),
        row(
            "vacuum wall time",
            f"{n.vacuum.wall:.1f} s",
            f"{big.vacuum.wall:.1f} s",
            grow(n.vacuum.wall, big.vacuum.wall),
        ),
        row("baseline process peak RSS", bc.mb(n.baseline.peak_rss), bc.mb(big.baseline.peak_rss)),
        "",
    ]
    for s in (n, big):
        for run in s.compact_failed:
            lines.append(
                f"- **At {s.label}, `neo compact` failed at {run.memory_limit}** (exit {run.code} after "
                f"{run.wall:.1f} s, peak RSS {bc.mb(run.peak_rss)}): `{run.tail}`. The largest partition "
                f"held {bc.mb(max(s.gen.year_bytes.values()))} in memory, "
                f"{max(s.gen.year_bytes.values()) / bc.parse_size(run.memory_limit):.1f}x that limit; it "
                f"completed at {s.compact.memory_limit}."
            )
    if n.compact_failed or big.compact_failed:
        lines.append("")
    lines += [
        "The peak includes the baseline (Python, neo, DuckDB loaded). Compaction rewrites one partition "
        "(year) at a time, so its memory follows the limit and the size of a year rather than the length of "
        "the history. `bench/bench_compact.py` also compares the seed's partitioned COPY, checks the sort "
        "order of the output and runs at other sizes and limits (`make bench-compact`).",
        "",
    ]
    return lines


def queries_section(r: Results, n: Scale, big: Scale) -> list[str]:
    f, size = r.size.factor, r.size
    lines = [
        "## 4. Queries: small files, compacted, native DuckDB table",
        "",
        "Method: the same SQL through metadata.db's `daily` view over the fresh small files (one per day), "
        "through the same view after compaction, and on the legacy database's table (built by the upserts "
        "of section 1: PRIMARY KEY (ts_code, trade_date), rows in day order). One connection per variant, "
        f"one warm-up run, then {size.rounds} rounds interleaving the variants, each round with another "
        "stock and day; medians; results fetched as Arrow. Before timing, count, sum(amount) and a hash of "
        "every row are checked equal across the three. Goals: one stock's history and one day's "
        f"cross-section {GOAL_SPEEDUP:.0f}x faster after compaction, and within {GOAL_NATIVE}x of the "
        "native table.",
        "",
        "| query | size | small files (view) | compacted (view) | speed-up | legacy table "
        "| compacted / legacy |",
        "|---|---|---|---|---|---|---|",
    ]
    for q in bc.QUERIES:
        for s in (n, big):
            m = s.medians
            label = "N" if s is n else f"{f}N"
            lines.append(
                f"| {q if s is n else ''} | {label} | {ms(m[q, 'small'])} | {ms(m[q, 'compacted'])} | "
                f"**{m[q, 'small'] / m[q, 'compacted']:.1f}x** | {ms(m[q, 'native'])} | "
                f"**{m[q, 'compacted'] / m[q, 'native']:.2f}x** |"
            )
    lines += [
        "",
        "On small files every query opens every file of the dataset, so their cost grows with the number "
        "of days. Compaction sorts each year by (ts_code, trade_date) into few files, so one stock's lookups "
        "skip row groups by their statistics; a day's rows are spread over every row group of its year, "
        "which is why the cross-section stays slower than the day-ordered native table (see the README's "
        "compaction section).",
        "",
    ]
    return lines


def bytes_section(n: Scale, big: Scale) -> list[str]:
    lines = [
        "## 5. Bytes on disk: the lake against the legacy DuckDB database",
        "",
        "Method: the same rows (the history of section 1, revised days included) as the lake's fresh files "
        "(one zstd Parquet file per day, with the `_fetched_at` column), as the compacted lake (one row per "
        "key), and as the legacy database built by `legacy_writer.create_table` + `upsert`, one batch "
        "per day in one connection, the way the old DBOperator.upsert built it (its .db file after closing, "
        "with the primary key index). Sizes are file sizes (`st_size`) of the data files; the lake's "
        "manifests and metadata.db (views only, a few hundred KB) are not counted.",
        "",
        "| size | rows written (keys) | lake: fresh files | lake: compacted | legacy .db | fresh / legacy "
        "| compacted / legacy |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in (n, big):
        keys = s.sums["native"][0]
        lines.append(
            f"| {s.label} | {s.gen.rows:,} ({keys:,}) | {bc.mb(s.bytes_small)} | "
            f"{bc.mb(s.bytes_compacted)} | "
            f"{bc.mb(s.bytes_legacy)} | {s.bytes_small / s.bytes_legacy:.2f}x | "
            f"{s.bytes_compacted / s.bytes_legacy:.2f}x |"
        )
    keys = big.sums["native"][0]
    lines += [
        f"| growth | x{big.gen.rows / n.gen.rows:.1f} | {grow(n.bytes_small, big.bytes_small)} | "
        f"{grow(n.bytes_compacted, big.bytes_compacted)} | {grow(n.bytes_legacy, big.bytes_legacy)} | | |",
        "",
        f"Bytes per key at {big.label}: fresh files {big.bytes_small / keys:.1f} (a revised key twice), "
        f"compacted {big.bytes_compacted / keys:.1f}, legacy {big.bytes_legacy / keys:.1f}.",
        "",
    ]
    return lines


# --- main -----------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> tuple[str, Size, argparse.Namespace]:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--size", choices=list(SIZES), default="small", help="preset (default: small)")
    ap.add_argument("--stocks", type=int, help="stocks per day")
    ap.add_argument("--days", type=int, help="trading days at N")
    ap.add_argument("--factor", type=int, help="how much larger the second size is (default 10)")
    ap.add_argument("--memory-limit", help="DuckDB memory_limit of compaction, e.g. 128MB")
    ap.add_argument("--threads", type=int, help="DuckDB threads of compaction (default 2)")
    ap.add_argument("--rounds", type=int, help="rounds of every timed comparison (default 5)")
    ap.add_argument("--new-days", type=int, help="days written on top of the history per path and round")
    ap.add_argument("--workers", help="fast worker counts for quota use, comma-separated, e.g. 1,4,16")
    ap.add_argument("--window", type=float, help="seconds of quota use measured per worker count")
    ap.add_argument(
        "--throughput-10n", action="store_true", help="also measure quota-off throughput at 10N (slow)"
    )
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the Markdown file to write")
    ap.add_argument("--root", type=Path, help="work directory (default: a new one under $TMPDIR)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args(argv)
    base = SIZES[args.size]
    over = {
        k: getattr(args, k)
        for k in ("stocks", "days", "factor", "memory_limit", "threads", "rounds", "new_days", "window")
        if getattr(args, k) is not None
    }
    if args.workers:
        over["workers"] = tuple(int(w) for w in args.workers.split(","))
    size = Size(**{**base.__dict__, **over})
    bc.parse_size(size.memory_limit)  # a bad size fails here, not after minutes
    if min(size.stocks, size.days, size.factor, size.rounds, size.new_days, *size.workers) < 1:
        raise SystemExit("sizes, rounds and worker counts must be at least 1")
    return args.size, size, args


def main() -> None:
    argv = sys.argv[1:]
    size_name, size, args = parse_args(argv)
    started = datetime.now(UTC)
    command = command_line(argv, size_name)
    root = (args.root or Path(tempfile.mkdtemp(prefix="neo-bench-suite-"))).resolve()
    root.mkdir(parents=True, exist_ok=True)
    os.environ["NEO_CONFIG"] = str(root / "no-neo.toml")  # no neo.toml from the working directory
    clock = Clock()
    clock.say(f"size {size_name}: {size}; work directory {root}")
    results = Results(size_name, size)
    try:
        clock.say("writer scaling: 1 and 2 processes")
        load = os.getloadavg()[0]
        results.writers, results.writer_rows = writer_scaling(size, root)
        results.writer_load = (load, os.getloadavg()[0])
        for scale in (1, size.factor):
            label = "N" if scale == 1 else f"{scale}N"
            results.scales.append(measure(size, size.days * scale, label, root, clock))
            if not args.keep:
                shutil.rmtree(root / label, ignore_errors=True)
        for workers in size.workers:
            clock.say(f"quota use with {workers} fast workers, {size.window:g} s")
            results.quota.append((workers, *bq.quota_use(workers, size.window)))
        years = max(1, round(size.days / 261))
        for y in [years, years * size.factor] if args.throughput_10n else [years]:
            clock.say(f"throughput with quotas off: {size.stocks:,} stocks, {y} year(s)")
            results.throughput[y] = bq.throughput(size.stocks, y)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    clock.say("done")
    lines = report(results, clock, started, command, root)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines[lines.index("## Summary: the goals") :][:20]))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
