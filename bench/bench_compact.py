"""Compaction of a table several times larger than its memory limit, against the seed's approach.

Data: `--stocks` stocks x `--years` whole years of daily bars (weekdays as trading days, from 2015),
delivered as one whole-market batch per trading day through the real write path
(`AppContainer(settings).writer.write`, fsync off for speed), then the last `--revisions` days
delivered again with revised values (a re-download): the lake holds two versions of those keys, the
`daily` view shows the latest, and compaction must keep only the latest. The table's size in memory
(Arrow bytes of every row written, `_fetched_at` included) is printed with its ratio to the memory
limit; the issue asks for at least 4x.

The lake is copied (Parquet files hard-linked, other files copied) into a second data root and both
are `neo sync`-ed: one keeps the small files ("before"), the other is compacted ("after"), and both
are queried side by side. Rewrites, each in its own process, with the same DuckDB memory_limit and
threads:
  - neo: `neo compact daily` (NEO_COMPACT_MEMORY_LIMIT, NEO_COMPACT_THREADS, other settings at their
    defaults, fsync on), then `neo vacuum --older-than 0s`, which deletes the replaced files at once;
  - the seed's approach, made to run: `COPY (SELECT year(trade_date) AS year, * FROM
    read_parquet(<all files>, hive_partitioning = 0) ORDER BY year, ts_code) TO <dir> (FORMAT
    PARQUET, PARTITION_BY (year), OVERWRITE_OR_IGNORE 1)` (as written it cannot bind: `year` is no
    column with hive_partitioning = 0). It neither deduplicates nor swaps files in; its output is read
    directly. If it fails at the memory limit, it is retried at twice the limit (up to 3 times);
  - a baseline: a process that imports neo and DuckDB and runs `SELECT 1`.
Each is measured from outside: wall time, and peak RSS of that process (`ru_maxrss` from
`os.wait4`). A small launcher process starts each one, because Linux counts in a child's ru_maxrss
the memory it had before exec, i.e. this (large) benchmark process's when forked from it.

Every set of files is checked for order: rows whose ts_code, or (ts_code, trade_date), is smaller
than the previous row's in the same file; and how many row groups a lookup of one stock or one day
must read (row groups whose min/max statistics contain the value: what lets DuckDB skip data).

The native comparison: the same rows (the view's latest version per key) in a DuckDB table in its
own .db file, as a legacy user has it: `legacy_writer.create_table` (the declared columns, PRIMARY KEY
(ts_code, trade_date)), rows inserted in day order (INSERT ... SELECT ... ORDER BY trade_date,
ts_code: the order a day-by-day upsert leaves them in).

Queries, the same SQL on each variant: one stock's full history (`SELECT * ... WHERE ts_code = ...
ORDER BY trade_date`), one day's cross-section (`SELECT * ... WHERE trade_date = ...`), a full-table
aggregate (count, sum(amount), avg(close)); results fetched as Arrow. Variants: metadata.db's `daily`
view over the small files; the same view after compaction; the native table; the compacted files read
directly with read_parquet (the cost of the view's latest-wins machinery is the difference); the
seed's output read the same way. One connection per variant, one warm-up run per query and variant,
then `--rounds` rounds interleaving the variants, each round with another stock and day (chosen
deterministically); medians. Correctness: count, sum(amount) and an order-independent hash of every
row must match between the view before compaction, after it, and the native table.

Usage: python bench/bench_compact.py [--stocks 1500] [--years 15] [--memory-limit 128MB]
           [--threads 2] [--rounds 5] [--revisions 5] [--root DIR] [--keep]
Full size (issue 5): --stocks 5000 --years 15 --memory-limit 450MB (4.2x the limit).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import _support  # noqa: F401  (tests/support on the import path)
import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from _results import save
from bench_lake import make_batch, trading_days
from tests.support.legacy_writer import create_table
from tests.support.processes import neo_command

from neo.core.config import Settings, load_settings
from neo.datasets import get
from neo.lake.catalog import lit, sync
from neo.lake.query import connect
from neo.pipeline.container import AppContainer

SPEC = get("daily")
FIRST_YEAR = 2015
MB = 1_000_000
SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?i?B)\s*$", re.IGNORECASE)
UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}
UNITS |= {"KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}
SEED_SQL = (
    "COPY (SELECT year(trade_date) AS year, * FROM read_parquet({src}, hive_partitioning = 0) "
    "ORDER BY year, ts_code) TO {dst} (FORMAT PARQUET, PARTITION_BY (year), OVERWRITE_OR_IGNORE 1)"
)
# The child that runs one SQL statement under a memory limit: argv = sql, memory_limit, threads, temp dir.
CHILD = """
import sys, duckdb
sql, memory, threads, temp = sys.argv[1:5]
con = duckdb.connect()
con.execute(f"SET memory_limit = '{memory}'")
con.execute(f"SET threads = {int(threads)}")
con.execute(f"SET temp_directory = '{temp}'")
con.execute(sql)
"""
# Measures one command: os.wait4 gives the child's own peak RSS (ru_maxrss, KiB on Linux). It runs in
# a fresh, small process because Linux counts the memory a child had before exec (its parent's, when
# forked from this big benchmark process) in ru_maxrss: measured from here directly, every child
# would show at least this process's RSS.
LAUNCHER = """
import json, os, sys, time
out, cmd = sys.argv[1], sys.argv[2:]
started = time.perf_counter()
pid = os.posix_spawnp(cmd[0], cmd, os.environ)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - started
code = os.waitstatus_to_exitcode(status)
with open(out, "w") as f:
    json.dump({"wall": wall, "maxrss_kib": usage.ru_maxrss, "code": code}, f)
"""
BASELINE = "import duckdb, neo.cli, neo.lake.catalog; duckdb.connect().execute('SELECT 1').fetchall()"
QUERIES = {
    "one stock's full history": "SELECT * FROM daily WHERE ts_code = '{code}' ORDER BY trade_date",
    "one day's cross-section": "SELECT * FROM daily WHERE trade_date = DATE '{day}'",
    "full-table aggregate": "SELECT count(*), sum(amount), avg(close) FROM daily",
}
CHECK = "SELECT count(*), sum(amount), sum(hash({cols})::HUGEINT) FROM daily"  # order-independent row hash


def parse_size(text: str) -> int:
    m = SIZE.match(text)
    if not m:
        raise SystemExit(f"bad size {text!r}: use e.g. 64MB, 1GB, 512MiB")
    return int(float(m.group(1)) * UNITS[m.group(2).upper()])


def mb(n: float) -> str:
    return f"{n / MB:,.0f} MB" if abs(n) >= 10 * MB else f"{n / MB:,.1f} MB"


@dataclass
class Generated:
    days: list[date]
    rows: int = 0
    arrow_bytes: int = 0
    year_bytes: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0


def generate(settings: Settings, stocks: int, years: int, revisions: int) -> Generated:
    """One writer call per trading day with every stock, then `revisions` last days re-delivered."""
    days = [d for d in trading_days(years * 262) if d.year < FIRST_YEAR + years]
    return write_history(settings, stocks, days, revisions)


def deliveries(days: list[date], revisions: int) -> list[tuple[date, int]]:
    """(day, seed of make_batch) in delivery order: every day once, then the last `revisions` again."""
    return [(d, 1) for d in days] + [(d, 2) for d in days[len(days) - revisions :]]


def write_history(settings: Settings, stocks: int, days: list[date], revisions: int) -> Generated:
    """Write `deliveries(days, revisions)` through the lake writer (settings.fsync applies), one
    whole-market batch per call; `seconds` counts the writer's calls only, not making the batches."""
    out = Generated(days)
    writer = AppContainer(settings).writer
    base = datetime(2025, 1, 1, tzinfo=UTC)
    for i, (day, seed) in enumerate(deliveries(days, revisions)):
        batch = make_batch(day, stocks, seed)
        started = time.perf_counter()
        writer.write(batch, SPEC, batch_id=uuid.uuid4().hex, fetched_at=base + timedelta(minutes=i))
        out.seconds += time.perf_counter() - started
        size = batch.nbytes + 8 * batch.num_rows  # + _fetched_at, added by the writer
        out.rows += batch.num_rows
        out.arrow_bytes += size
        out.year_bytes[day.year] = out.year_bytes.get(day.year, 0) + size
    return out


def link_copy(src: Path, dst: Path) -> None:
    """A second data root with the same lake: Parquet files hard-linked (never written in place),
    everything else copied; metadata.db is left out (its views hold absolute paths: sync instead)."""
    for path in src.rglob("*"):
        if path.is_dir() or path.name.startswith(("metadata.db", ".")):
            continue
        target = dst / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".parquet":
            os.link(path, target)
        else:
            shutil.copy2(path, target)


def parquet_files(directory: Path) -> list[Path]:
    """Parquet files under `directory`, not counting hidden ones (temporary files and directories)."""
    found = directory.rglob("*.parquet")
    return sorted(p for p in found if not any(x.startswith(".") for x in p.relative_to(directory).parts))


def data_files(directory: Path) -> list[Path]:
    """Parquet files with at least one row (placeholders that keep globs matching do not count)."""
    return [p for p in parquet_files(directory) if pq.read_metadata(p).num_rows > 0]


def disk_bytes(paths: list[Path]) -> int:
    return sum(p.stat().st_size for p in paths)


@dataclass
class Run:
    label: str
    wall: float
    peak_rss: int
    code: int
    tail: str
    memory_limit: str = ""


def run_child(label: str, cmd: list[str], env: dict[str, str], cwd: Path, log: Path) -> Run:
    """Run a command through a fresh launcher process; wall time and the command's peak RSS."""
    result = log.with_suffix(".json")
    with open(log, "wb") as out:
        subprocess.run(
            [sys.executable, "-c", LAUNCHER, str(result), *cmd],
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
        )
    measured = json.loads(result.read_text())
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    tail = next((ln for ln in reversed(lines) if "Error" in ln), lines[-1] if lines else "")
    return Run(label, measured["wall"], measured["maxrss_kib"] * 1024, measured["code"], tail.strip()[:200])


def child_env(home: Path, root: Path, memory_limit: str, threads: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEO_") and k != "TUSHARE_TOKEN"}
    env |= {
        "NEO_HOME": str(home),
        "NEO_CONFIG": str(root / "no-neo.toml"),
        "NEO_COMPACT_MEMORY_LIMIT": memory_limit,
        "NEO_COMPACT_THREADS": str(threads),
    }
    return env


def seed_copy(
    src_glob: str, out: Path, root: Path, memory_limit: str, threads: int, env: dict[str, str]
) -> list[Run]:
    """The seed's partitioned COPY; on failure retried with twice the memory limit, up to 3 times."""
    runs = []
    limit = parse_size(memory_limit)
    for attempt in range(4):
        shutil.rmtree(out, ignore_errors=True)
        temp = root / "seed-tmp"
        shutil.rmtree(temp, ignore_errors=True)
        this = memory_limit if attempt == 0 else f"{limit * 2**attempt // MB}MB"
        sql = SEED_SQL.format(src=lit(src_glob), dst=lit(str(out)))
        cmd = [sys.executable, "-c", CHILD, sql, this, str(threads), str(temp)]
        run = run_child("seed", cmd, env, root, root / f"seed-{attempt}.log")
        run.memory_limit = this
        runs.append(run)
        print(
            f"  seed COPY at {this}: exit {run.code}, {run.wall:.1f}s, peak RSS {mb(run.peak_rss)}"
            + (f": {run.tail}" if run.code else ""),
            flush=True,
        )
        shutil.rmtree(temp, ignore_errors=True)
        if run.code == 0:
            break
    return runs


@dataclass
class Order:
    files: int = 0
    sorted_files: int = 0
    row_groups: int = 0
    code_breaks: int = 0  # a row whose ts_code is smaller than the previous row's
    key_breaks: int = 0  # a row whose (ts_code, trade_date) is smaller than the previous row's
    code_sorted_files: int = 0
    rows: int = 0
    stock_groups: float = 0.0
    day_groups: float = 0.0


def order_of(files: list[Path], codes: list[str], days: list[date]) -> Order:
    """How sorted each file is by ts_code and by (ts_code, trade_date), and how many row groups one
    stock's or one day's lookup must read by min/max statistics (the mean over the sampled values)."""
    out = Order(files=len(files))
    ranges: list[tuple[str, str, date, date]] = []
    for path in files:
        pf = pq.ParquetFile(path)
        md = pf.metadata
        names = [md.schema.column(i).name for i in range(md.num_columns)]
        ci, di = names.index("ts_code"), names.index("trade_date")
        for g in range(md.num_row_groups):
            rg = md.row_group(g)
            cs, ds = rg.column(ci).statistics, rg.column(di).statistics
            if rg.num_rows and cs is not None and ds is not None and cs.has_min_max and ds.has_min_max:
                ranges.append((cs.min, cs.max, ds.min, ds.max))
        out.row_groups += md.num_row_groups
        out.rows += md.num_rows
        code_breaks, key_breaks, last = 0, 0, None
        for g in range(md.num_row_groups):
            t = pf.read_row_group(g, columns=["ts_code", "trade_date"])
            c = t.column("ts_code").combine_chunks()
            d = t.column("trade_date").combine_chunks()
            if last is not None and len(c):
                c = pa.concat_arrays([pa.array([last[0]], c.type), c])
                d = pa.concat_arrays([pa.array([last[1]], d.type), d])
            if len(c) > 1:
                c0, c1, d0, d1 = c[:-1], c[1:], d[:-1], d[1:]
                down = pc.less(c1, c0)
                bad = pc.or_(down, pc.and_(pc.equal(c1, c0), pc.less(d1, d0)))
                code_breaks += pc.sum(down).as_py() or 0
                key_breaks += pc.sum(bad).as_py() or 0
            if len(c):
                last = (c[-1].as_py(), d[-1].as_py())
        out.code_breaks += code_breaks
        out.key_breaks += key_breaks
        out.code_sorted_files += code_breaks == 0
        out.sorted_files += key_breaks == 0
    if ranges:
        out.stock_groups = statistics.mean(sum(lo <= c <= hi for lo, hi, _, _ in ranges) for c in codes)
        out.day_groups = statistics.mean(sum(lo <= d <= hi for _, _, lo, hi in ranges) for d in days)
    return out


def load_native(db: Path, metadata_db: Path) -> float:
    """The legacy's table: primary key, rows in day order. Returns seconds."""
    started = time.perf_counter()
    con = duckdb.connect(str(db))
    create_table(con, SPEC)  # as the old DBOperator did: declared columns, PRIMARY KEY (ts_code, trade_date)
    con.execute(f"ATTACH {lit(str(metadata_db))} AS lake (READ_ONLY)")
    names = ", ".join(SPEC.field_names)
    con.execute(f"INSERT INTO daily SELECT {names} FROM lake.daily ORDER BY trade_date, ts_code")
    con.execute("DETACH lake")
    con.execute("CHECKPOINT")
    con.close()
    return time.perf_counter() - started


def files_view(files: list[Path]) -> Callable[[], duckdb.DuckDBPyConnection]:
    """An in-memory connection whose `daily` view reads these files as they are (no dedup)."""

    def open_() -> duckdb.DuckDBPyConnection:
        con = duckdb.connect()
        src = ", ".join(lit(str(p.resolve())) for p in files)
        names = ", ".join(SPEC.field_names)
        con.execute(
            f"CREATE VIEW daily AS SELECT {names} FROM read_parquet([{src}], hive_partitioning = false)"
        )
        return con

    return open_


def checksum(con: duckdb.DuckDBPyConnection) -> tuple[int, float, int]:
    row = con.sql(CHECK.format(cols=", ".join(SPEC.field_names))).fetchall()[0]
    return int(row[0]), float(row[1]), int(row[2])


def same(a: tuple[int, float, int], b: tuple[int, float, int]) -> bool:
    return a[0] == b[0] and a[2] == b[2] and abs(a[1] - b[1]) <= 1e-9 * max(abs(a[1]), 1.0)


def query_times(
    variants: dict[str, Callable[[], duckdb.DuckDBPyConnection]],
    rounds: int,
    codes: list[str],
    days: list[date],
) -> tuple[dict[tuple[str, str], float], dict[tuple[str, str], int]]:
    """Median seconds and result rows (last round) per (query, variant); rounds interleave variants.
    codes[0] and days[0] are for the warm-up run."""
    cons = {name: open_() for name, open_ in variants.items()}
    times: dict[tuple[str, str], list[float]] = {(q, v): [] for q in QUERIES for v in variants}
    rows: dict[tuple[str, str], int] = {}
    try:
        for r in range(rounds + 1):
            for q, template in QUERIES.items():
                sql = template.format(code=codes[r], day=days[r])
                for v, con in cons.items():
                    started = time.perf_counter()
                    result = con.sql(sql).to_arrow_table()
                    elapsed = time.perf_counter() - started
                    if r:
                        times[q, v].append(elapsed)
                        rows[q, v] = result.num_rows if q != "full-table aggregate" else result[0][0].as_py()
            if r:
                print(f"  round {r}/{rounds} done", flush=True)
    finally:
        for con in cons.values():
            con.close()
    return {k: statistics.median(v) for k, v in times.items()}, rows


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stocks", type=int, default=1500)
    ap.add_argument("--years", type=int, default=15)
    ap.add_argument("--memory-limit", default="128MB", help="DuckDB memory_limit of both rewrites")
    ap.add_argument("--threads", type=int, default=2, help="DuckDB threads of both rewrites")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--revisions", type=int, default=5, help="last days delivered a second time, revised")
    ap.add_argument("--root", type=Path, help="work directory (default: a new one under $TMPDIR)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    limit = parse_size(args.memory_limit)
    root = (args.root or Path(tempfile.mkdtemp(prefix="neo-bench-compact-"))).resolve()
    root.mkdir(parents=True, exist_ok=True)
    os.environ["NEO_CONFIG"] = str(root / "no-neo.toml")  # no neo.toml from the working directory
    before_home, after_home = root / "before", root / "after"
    s_before = load_settings(home=before_home, fsync=False)
    s_after = load_settings(home=after_home)
    print(f"work directory {root}", flush=True)
    try:
        lines = report(args, limit, run(args, limit, root, s_before, s_after))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print("\n".join(lines))
    size = (args.stocks, args.years, args.memory_limit)
    default = size == tuple(ap.get_default(k) for k in ("stocks", "years", "memory_limit"))
    save("compact" if default else f"compact-{args.stocks}x{args.years}-{args.memory_limit}", lines)


@dataclass
class Results:
    gen: Generated
    small: list[Path]
    compacted: list[Path]
    files_compacted: int  # after compaction, before vacuum
    seed_files: list[Path]
    native_bytes: int
    native_seconds: float
    baseline: Run
    compact: Run
    vacuum: Run
    seed_runs: list[Run]
    order: dict[str, Order]
    sums: dict[str, tuple[int, float, int]]
    medians: dict[tuple[str, str], float]
    result_rows: dict[tuple[str, str], int]


def run(args: argparse.Namespace, limit: int, root: Path, s_before: Settings, s_after: Settings) -> Results:
    gen = generate(s_before, args.stocks, args.years, args.revisions)
    print(
        f"generated {len(gen.days)} days (+{args.revisions} revised) x {args.stocks} stocks = "
        f"{gen.rows:,} rows in {gen.seconds:.1f}s; in memory {mb(gen.arrow_bytes)} = "
        f"{gen.arrow_bytes / limit:.1f}x the memory limit {args.memory_limit}",
        flush=True,
    )
    link_copy(s_before.home, s_after.home)
    sync(s_before)
    sync(s_after)
    lake_before = s_before.lake_dir / SPEC.name
    lake_after = s_after.lake_dir / SPEC.name
    small = data_files(lake_before)

    native = root / "native.db"
    native_seconds = load_native(native, s_before.metadata_db)
    print(f"native table loaded in {native_seconds:.1f}s", flush=True)

    # Lookups for the warm-up (index 0) and each round, spread over the stocks and days.
    all_codes = make_batch(gen.days[0], args.stocks, 1).column("ts_code").to_pylist()
    codes = [all_codes[(r * 7919 + 17) % args.stocks] for r in range(args.rounds + 1)]
    days = [gen.days[(r * 104_729 + 3) % len(gen.days)] for r in range(args.rounds + 1)]

    env = child_env(s_after.home, root, args.memory_limit, args.threads)
    baseline = run_child("baseline", [sys.executable, "-c", BASELINE], env, root, root / "baseline.log")
    print(f"baseline child: peak RSS {mb(baseline.peak_rss)}", flush=True)

    seed_out = root / "seed-out"
    print("seed's partitioned COPY ...", flush=True)
    src_glob = str(lake_before.resolve() / "**" / "*.parquet")
    seed_runs = seed_copy(src_glob, seed_out, root, args.memory_limit, args.threads, env)
    seed_files = data_files(seed_out) if seed_runs[-1].code == 0 else []

    print("neo compact daily ...", flush=True)
    compact = run_child("compact", [*neo_command(), "compact", SPEC.name], env, root, root / "compact.log")
    print(
        f"  exit {compact.code}, {compact.wall:.1f}s, peak RSS {mb(compact.peak_rss)}"
        + (f": {compact.tail}" if compact.code else ""),
        flush=True,
    )
    files_compacted = len(data_files(lake_after))
    vacuum_cmd = [*neo_command(), "vacuum", "--older-than", "0s"]
    vacuum = run_child("vacuum", vacuum_cmd, env, root, root / "vacuum.log")
    print(f"  vacuum: exit {vacuum.code}, {vacuum.wall:.1f}s" + (f": {vacuum.tail}" if vacuum.code else ""))
    sync(s_after)
    compacted = data_files(lake_after)

    print("checking the order of the files ...", flush=True)
    order = {
        "small": order_of(small, codes[1:], days[1:]),
        "compacted": order_of(compacted, codes[1:], days[1:]),
        "seed": order_of(seed_files, codes[1:], days[1:]),
    }
    print("checking correctness ...", flush=True)
    with connect(s_before) as a, connect(s_after) as b, duckdb.connect(str(native), read_only=True) as n:
        sums = {"small": checksum(a), "compacted": checksum(b), "native": checksum(n)}

    print("queries ...", flush=True)
    variants: dict[str, Callable[[], duckdb.DuckDBPyConnection]] = {
        "small": lambda: connect(s_before),
        "compacted": lambda: connect(s_after),
        "native": lambda: duckdb.connect(str(native), read_only=True),
    }
    if compacted:
        variants["compacted files"] = files_view(compacted)
    if seed_files:
        variants["seed"] = files_view(seed_files)
    medians, result_rows = query_times(variants, args.rounds, codes, days)
    return Results(
        gen=gen,
        small=small,
        compacted=compacted,
        files_compacted=files_compacted,
        seed_files=seed_files,
        native_bytes=native.stat().st_size,
        native_seconds=native_seconds,
        baseline=baseline,
        compact=compact,
        vacuum=vacuum,
        seed_runs=seed_runs,
        order=order,
        sums=sums,
        medians=medians,
        result_rows=result_rows,
    )


def report(args: argparse.Namespace, limit: int, r: Results) -> list[str]:
    gen, over = r.gen, 300 * MB
    keys = args.stocks * len(gen.days)
    rss_met = r.compact.code == 0 and r.compact.peak_rss <= limit + over
    lines = [
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"DuckDB {duckdb.__version__}, pyarrow {pa.__version__}",
        f"data: {args.stocks:,} stocks x {args.years} years = {len(gen.days):,} trading days, one file per "
        f"day, + {args.revisions} days delivered again (revised): {gen.rows:,} rows, {keys:,} keys; "
        f"in memory (Arrow) {mb(gen.arrow_bytes)} = **{gen.arrow_bytes / limit:.1f}x the memory limit** "
        f"({args.memory_limit}; largest year {mb(max(gen.year_bytes.values()))}); DuckDB threads "
        f"{args.threads}; queries: {args.rounds} interleaved rounds, medians",
        "",
        "| rewrite, each in its own process | memory_limit | exit | wall time | peak RSS | "
        "peak RSS - limit | files before -> after | bytes on disk after |",
        "|---|---|---|---|---|---|---|---|",
        f"| neo compact daily (then vacuum --older-than 0s) | {args.memory_limit} | {r.compact.code} | "
        f"{r.compact.wall:.1f} s | {mb(r.compact.peak_rss)} | {mb(r.compact.peak_rss - limit)} | "
        f"{len(r.small):,} -> {len(r.compacted):,} | {mb(disk_bytes(r.compacted))} |",
    ]
    for run_ in r.seed_runs:
        lim = parse_size(run_.memory_limit)
        after = (
            f"{len(r.small):,} -> {len(r.seed_files):,} | {mb(disk_bytes(r.seed_files))}"
            if run_.code == 0
            else f"failed: `{run_.tail}` |"
        )
        lines.append(
            f"| seed: partitioned COPY ... ORDER BY year, ts_code | {run_.memory_limit} | {run_.code} | "
            f"{run_.wall:.1f} s | {mb(run_.peak_rss)} | {mb(run_.peak_rss - lim)} | {after} |"
        )
    lines += [
        f"| baseline: import neo + DuckDB, SELECT 1 | | {r.baseline.code} | {r.baseline.wall:.1f} s | "
        f"{mb(r.baseline.peak_rss)} | | | |",
        "",
        f"- compaction: peak RSS {mb(r.compact.peak_rss)}, goal limit + 300 MB = {mb(limit + over)}: "
        f"**{'met' if rss_met else 'not met'}**; files {len(r.small):,} -> {r.files_compacted:,} after "
        f"compaction, {len(r.compacted):,} after vacuum ({r.vacuum.wall:.1f} s, exit {r.vacuum.code}).",
        f"- bytes on disk: lake of small files {mb(disk_bytes(r.small))}, compacted lake "
        f"{mb(disk_bytes(r.compacted))}, native DuckDB table with PRIMARY KEY (ts_code, trade_date) "
        f"{mb(r.native_bytes)} (loaded in day order in {r.native_seconds:.1f} s).",
    ]
    before, after, native = r.sums["small"], r.sums["compacted"], r.sums["native"]
    seed_rows = r.order["seed"].rows
    lines.append(
        f"- correctness (count, sum(amount), hash of every row): the view before compaction {before[0]:,} "
        f"rows; after compaction {'identical' if same(before, after) else f'DIFFERENT {after}'}; "
        f"native table {'identical' if same(before, native) else f'DIFFERENT {native}'}; "
        + (
            f"the seed's output {seed_rows:,} rows ({seed_rows - before[0]:,} duplicate keys kept)."
            if r.seed_files
            else "the seed's COPY produced nothing."
        )
    )
    lines += [
        "",
        "| files | files | row groups | sorted by ts_code: files (rows out of order) | by (ts_code, "
        "trade_date): files (rows out of order) | row groups read: one stock | one day |",
        "|---|---|---|---|---|---|---|",
    ]
    names = {"small": "small files, as written", "compacted": "neo compact", "seed": "seed's COPY"}
    for key, name in names.items():
        o = r.order[key]
        if o.files:
            lines.append(
                f"| {name} | {o.files:,} | {o.row_groups:,} | {o.code_sorted_files:,} ({o.code_breaks:,}) | "
                f"{o.sorted_files:,} ({o.key_breaks:,}) | {o.stock_groups:,.1f} | {o.day_groups:,.1f} |"
            )
    seed_ok = bool(r.seed_files)
    lines += [
        "",
        "| query | small files (view) | compacted (view) | speed-up | native table | compacted / native "
        "| compacted files, no view | seed's output (no dedup) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    goals = []
    for q in QUERIES:
        t_small, t_comp, t_nat = r.medians[q, "small"], r.medians[q, "compacted"], r.medians[q, "native"]
        raw_t = ms(r.medians[q, "compacted files"]) if (q, "compacted files") in r.medians else "-"
        seed_t = ms(r.medians[q, "seed"]) if seed_ok else "-"
        lines.append(
            f"| {q} | {ms(t_small)} | {ms(t_comp)} | **{t_small / t_comp:.1f}x** | {ms(t_nat)} | "
            f"**{t_comp / t_nat:.2f}x** | {raw_t} | {seed_t} |"
        )
        if q != "full-table aggregate":
            goals.append(
                f"{q}: 20x faster {'met' if t_small / t_comp >= 20 else 'not met'}, "
                f"within 1.5x of native {'met' if t_comp / t_nat <= 1.5 else 'not met'}"
            )
    lines += ["", "- goals: " + "; ".join(goals) + "."]
    variants = {v for _, v in r.result_rows}
    differ = {
        q: {v: r.result_rows[q, v] for v in sorted(variants)}
        for q in QUERIES
        if len({r.result_rows[q, v] for v in variants}) > 1
    }
    if differ:
        lines.append(f"- result rows (last round) differ between variants: {differ}")
    return lines


if __name__ == "__main__":
    main()
