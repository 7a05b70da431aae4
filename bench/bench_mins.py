"""Minute bars at scale (issue 23, item 5): `make bench-mins`.

Data: `neo sim serve` (its own process) with `--stocks` stocks over `--year`; every stock listed in
that year (`minute_stocks = ["all"]`) gets its 1min bars downloaded through the real pipeline
(`neo download stk_mins`, its own process: plan, 4 fast and 2 slow workers, fsync on), quotas off.
The year's `trade_cal`, `stock_basic`, `daily` and `adj_factor` are downloaded first (the plan and
the views need them). States, each a data root under `--workdir`:
  (a) after the download: one fresh file per call (one stock, up to 33 days);
  (b) after maintenance: a copy of (a) (Parquet files hard-linked), `neo compact stk_mins` under
      NEO_COMPACT_MEMORY_LIMIT = the data's Arrow size / `--data-over-limit` (default 20), then
      `neo vacuum --older-than 0s`.

Measured, with the goals of the issue:
  1. Download throughput: rows/s of `neo download stk_mins` against the same calls made by a plain
     client (httpx + orjson, as many threads as the pipeline's fast workers, nothing kept): the
     simulator's own rate for them. The whole year once each, then `--rounds` interleaved rounds on
     `--subset` stocks each (a fresh data root per round: `neo download stk_mins --codes ...`, then
     the plain client replays that round's calls from its ledger; which one goes first alternates).
     Goal: the pipeline >= 0.8x the plain client (median of the rounds' ratios).
  2. Compaction: wall time and peak RSS of `neo compact stk_mins` (from wait4, through a launcher:
     bench_compact.run_child) against its memory limit, on data >= 20x that limit. Goal: peak RSS
     <= limit + 300 MB.
  3. Bytes on disk: the compacted lake's files against the same rows in native DuckDB tables
     (`CREATE TABLE ... AS SELECT ... ORDER BY`, checkpointed), in day order (each day's bars,
     stock by stock: a table kept up to date day by day, as bench_query's legacy tables are "filled
     in day order"), in time order and in key order. Goal: lake <= the native table in day order.
  4. Queries, SQL as an analyst writes it against view and macro names: one stock's month of 1min
     bars; the whole market's bars at one minute of one day; one day's VWAP for every stock
     (stk_mins_vwap); a stock-year resampled to 30min (stk_mins_bars(30)). Lake through
     `neo.connect()` (metadata.db) in states (a) and (b), natives through `duckdb.connect(file,
     read_only=True)` holding the same macros (neo's SQL). One warm-up run per shape and variant,
     then `--rounds` rounds, each with another stock/day, every variant one after the other
     (interleaved); medians; every run's rows compared across variants first (sorted; floats within
     a relative 1e-9). Goal: (b) within 2x of the native table in day order.
  5. The projection to 5,400 stocks x 10 years, on paper, from the measured rates.

Usage: python bench/bench_mins.py [--stocks 1000] [--year 2024] [--rounds 5] [--subset 100]
           [--workdir DIR] [--keep] [--data-over-limit 20]
`make bench-mins` runs the default size (about 40-60 minutes on the 2-core project machine).
Quick try: --stocks 100 --rounds 3 --subset 20 (a few minutes).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import _support  # noqa: F401  (tests/support on the import path)
import bench_compact as bc
import duckdb
import httpx
import orjson
import pyarrow.parquet as pq
from _results import save
from bench_queue import cpu_seconds
from suite import cpu_model, filesystem, git_commit, os_name, ram, version
from tests.support.processes import neo_command, spawn

from neo.core.config import load_settings
from neo.datasets import get
from neo.lake import manifest
from neo.lake.ledger import Ledger
from neo.lake.minutes import bar_end_macro, bars_macro, vwap_macro
from neo.lake.query import connect

REPO = Path(__file__).resolve().parent.parent
MB = bc.MB
SPEC = get("stk_mins")
REFERENCE = ("trade_cal", "stock_basic", "daily", "adj_factor")
FAST_WORKERS = 4  # the pipeline's default, and the plain client's threads
GOAL_THROUGHPUT, GOAL_RSS, GOAL_NATIVE = 0.8, 300 * MB, 2.0
FULL_STOCKS, FULL_YEARS, QUOTA_PER_MIN = 5400, 10, 500  # the projection's market and Tushare's quota
NATIVES = {
    "day": "CAST(trade_time AS DATE), ts_code, trade_time",
    "time": "trade_time, ts_code",
    "key": "ts_code, trade_time",
}
SHAPES = {
    "one stock's month of 1min bars": (
        "SELECT * FROM stk_mins WHERE ts_code = '{code}' AND trade_time >= DATE '{m0}' "
        "AND trade_time < DATE '{m1}' ORDER BY trade_time"
    ),
    "the whole market at one minute of one day": (
        "SELECT * FROM stk_mins WHERE trade_time = TIMESTAMP '{day} 10:31:00' ORDER BY ts_code"
    ),
    "one day's VWAP for every stock": "SELECT * FROM stk_mins_vwap(DATE '{day}') ORDER BY ts_code",
    "a stock-year resampled to 30min": (
        "SELECT * FROM stk_mins_bars(30) WHERE ts_code = '{code}' ORDER BY trade_time"
    ),
}


class Clock:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self.loads = [os.getloadavg()[0]]

    def say(self, text: str) -> None:
        self.loads.append(os.getloadavg()[0])
        t = int(time.monotonic() - self.started)
        print(f"[{t // 60:02d}:{t % 60:02d}] {text}", flush=True)


def env_for(home: Path, url: str, workdir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEO_") and k != "TUSHARE_TOKEN"}
    return env | {
        "NEO_HOME": str(home),
        "NEO_CONFIG": str(workdir / "no-neo.toml"),
        "NEO_TUSHARE_URL": url,
        "TUSHARE_TOKEN": "bench-token-0123456789",
        "NEO_DEFAULT_QUOTA": "0",
        "NEO_QUOTAS__stock_basic": "0",
        "NEO_MINUTE_STOCKS": '["all"]',
        "NEO_COMPACT_AFTER_FILES": "0",  # compaction is measured on its own
        "NEO_SYNC_MINUTES": "0",
        **extra,
    }


def neo(*args: str, env: dict[str, str]) -> float:
    started = time.monotonic()
    done = subprocess.run([*neo_command(), *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"neo {' '.join(args)} failed: {done.stderr.strip()[-500:] or done.stdout[-500:]}")
    return time.monotonic() - started


# --- 1. throughput ---------------------------------------------------------------------------------


@dataclass
class Transfer:
    calls: int
    rows: int
    seconds: float
    sim_cpu: float = 0.0

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds


def ledger_calls(home: Path) -> tuple[list[dict[str, Any]], int]:
    """The stk_mins calls a download made, and the rows they returned (the ledger's record)."""
    ledger = Ledger(home / "state" / "ledger.sqlite", read_only=True)
    done = [e for e in ledger.entries("stk_mins") if e.status == "done"]
    return [e.params for e in done], sum(e.rows or 0 for e in done)


def pipeline(
    home: Path, url: str, workdir: Path, sim_pid: int, end: date, codes: list[str] | None
) -> Transfer:
    env = env_for(home, url, workdir)
    cpu0 = cpu_seconds(sim_pid)
    args = ["download", "stk_mins", "--end", f"{end:%Y%m%d}"]
    seconds = neo(*args, *(["--codes", ",".join(codes)] if codes else []), env=env)
    calls, rows = ledger_calls(home)
    return Transfer(len(calls), rows, seconds, cpu_seconds(sim_pid) - cpu0)


def plain(url: str, calls: list[dict[str, Any]], sim_pid: int) -> Transfer:
    """The same calls through a bare httpx + orjson client: the simulator's own rate for them."""
    bodies = [
        orjson.dumps({"api_name": "stk_mins", "token": "bench", "params": p, "fields": ""}) for p in calls
    ]

    def call(http: httpx.Client, body: bytes) -> int:
        reply = orjson.loads(http.post(url, content=body).content)
        assert reply["code"] == 0, reply["msg"]
        return len(reply["data"]["items"])

    limits = httpx.Limits(max_connections=FAST_WORKERS, max_keepalive_connections=FAST_WORKERS)
    with httpx.Client(limits=limits, timeout=120) as http:
        cpu0 = cpu_seconds(sim_pid)
        started = time.monotonic()
        with ThreadPoolExecutor(FAST_WORKERS) as pool:
            rows = sum(pool.map(lambda b: call(http, b), bodies))
        seconds = time.monotonic() - started
    return Transfer(len(calls), rows, seconds, cpu_seconds(sim_pid) - cpu0)


# --- 4. queries -------------------------------------------------------------------------------------


def native(db: Path, source: str, order: str) -> float:
    """A native DuckDB table of the same rows in `order`, with neo's minute macros."""
    started = time.monotonic()
    db.unlink(missing_ok=True)
    con = duckdb.connect(str(db))
    try:
        con.execute("SET threads = 2")
        cols = ", ".join(f.name for f in SPEC.fields)
        con.execute(f"CREATE TABLE stk_mins AS SELECT {cols} FROM {source} ORDER BY {order}")
        con.execute(f"CREATE MACRO minute_bar_end(t, n) AS {bar_end_macro()}")
        con.execute(f"CREATE MACRO stk_mins_bars(n) AS TABLE {bars_macro('stk_mins')}")
        con.execute(f"CREATE MACRO stk_mins_vwap(d) AS TABLE {vwap_macro('stk_mins')}")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return time.monotonic() - started


def same(a: list[tuple], b: list[tuple]) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        for u, v in zip(x, y, strict=True):
            if isinstance(u, float) and isinstance(v, float):
                if not math.isclose(u, v, rel_tol=1e-9, abs_tol=1e-9):
                    return False
            elif u != v:
                return False
    return True


def query_times(
    variants: dict[str, duckdb.DuckDBPyConnection], rounds: int, codes: list[str], days: list[date]
) -> dict[str, dict[str, list[float]]]:
    """{shape: {variant: seconds per timed round}}; every run's rows compared across variants."""
    rng = random.Random(23)
    out: dict[str, dict[str, list[float]]] = {s: {v: [] for v in variants} for s in SHAPES}
    for r in range(rounds + 1):  # round 0: the warm-up
        code, day = rng.choice(codes), rng.choice(days)
        m0 = day.replace(day=1)
        m1 = (m0 + timedelta(days=32)).replace(day=1)
        for shape, sql in SHAPES.items():
            text = sql.format(code=code, day=day, m0=m0, m1=m1)
            first: list[tuple] | None = None
            for name, con in variants.items():
                started = time.perf_counter()
                table = con.sql(text).to_arrow_table()
                seconds = time.perf_counter() - started
                rows = sorted(tuple(row.values()) for row in table.to_pylist())
                if first is None:
                    first = rows
                elif not same(first, rows):
                    raise AssertionError(
                        f"{shape}: {name} answers differently ({len(rows)} rows, {len(first)})"
                    )
                if r:
                    out[shape][name].append(seconds)
    return out


# --- the run -------------------------------------------------------------------------------------


@dataclass
class Results:
    args: argparse.Namespace
    stocks_listed: int = 0
    full: Transfer | None = None
    full_plain: Transfer | None = None
    rounds: list[tuple[Transfer, Transfer]] = field(default_factory=list)
    arrow_bytes: int = 0
    limit: str = ""
    compact: bc.Run | None = None
    vacuum: bc.Run | None = None
    baseline: bc.Run | None = None
    files_a: int = 0
    files_b: int = 0
    bytes_a: int = 0
    bytes_b: int = 0
    natives: dict[str, tuple[int, float]] = field(default_factory=dict)  # order -> (bytes, build s)
    times: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    status_s: float = 0.0
    verify_s: float = 0.0
    loads: list[float] = field(default_factory=list)
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    seconds: float = 0.0


def run(args: argparse.Namespace, workdir: Path, clock: Clock) -> Results:
    r = Results(args)
    start, end = date(args.year, 1, 1), date(args.year, 12, 31)
    for d in ("base", "a", "b", "rounds"):
        shutil.rmtree(workdir / d, ignore_errors=True)
    proc, url = spawn("--stocks", str(args.stocks), "--start", f"{start:%Y%m%d}", "--end", f"{end:%Y%m%d}")
    try:
        clock.say(f"simulator: {args.stocks:,} stocks, {args.year}, at {url}")
        base = workdir / "base"
        neo("download", *REFERENCE, "--end", f"{end:%Y%m%d}", env=env_for(base, url, workdir))
        base_settings = load_settings(home=base)
        con = connect(base_settings)
        try:
            listed = [
                row[0]
                for row in con.sql(
                    f"SELECT ts_code FROM stock_basic WHERE list_date <= DATE '{end}' "
                    f"AND (delist_date IS NULL OR delist_date > DATE '{start}') ORDER BY 1"
                ).fetchall()
            ]
        finally:
            con.close()
        r.stocks_listed = len(listed)
        clock.say(f"reference datasets downloaded; {len(listed):,} stocks listed in {args.year}")

        # 1. throughput: the whole year once, then interleaved rounds on subsets
        a = workdir / "a"
        bc.link_copy(base, a)
        r.full = pipeline(a, url, workdir, proc.pid, end, None)
        clock.say(f"(a) neo download stk_mins: {r.full.calls:,} calls, {r.full.rows:,} rows")
        calls, _ = ledger_calls(a)
        r.full_plain = plain(url, calls, proc.pid)
        clock.say(f"plain client, the same calls: {r.full_plain.rows:,} rows in {r.full_plain.seconds:.0f}s")
        rng = random.Random(5)
        for k in range(args.rounds):
            subset = sorted(rng.sample(listed, min(args.subset, len(listed))))
            home = workdir / "rounds" / f"r{k}"
            bc.link_copy(base, home)
            if k % 2 == 0:
                mine = pipeline(home, url, workdir, proc.pid, end, subset)
                theirs = plain(url, ledger_calls(home)[0], proc.pid)
            else:  # the same calls the pipeline will make: planned first, then replayed, then run
                plan_home = workdir / "rounds" / f"p{k}"
                bc.link_copy(base, plan_home)
                theirs = plain(url, _planned(plan_home, url, workdir, end, subset), proc.pid)
                mine = pipeline(home, url, workdir, proc.pid, end, subset)
            r.rounds.append((mine, theirs))
            shutil.rmtree(workdir / "rounds", ignore_errors=True)
            clock.say(f"round {k + 1}: pipeline / plain client {mine.rows_per_s / theirs.rows_per_s:.2f}x")
    finally:
        proc.terminate()
        proc.wait()

    # 2. compaction at a limit the data is `data_over_limit` x
    settings_a = load_settings(home=a)
    files_a = manifest.live_files(settings_a.lake_dir, SPEC)
    r.files_a, r.bytes_a = len(files_a), bc.disk_bytes(files_a)
    sample = pq.read_table(files_a[0])
    r.arrow_bytes = int(sample.nbytes / sample.num_rows * r.full.rows)
    # At least 128MB: a smaller limit than that fails for want of room, not of size (a quick try).
    r.limit = args.memory_limit or f"{max(r.arrow_bytes // args.data_over_limit // MB, 128)}MB"
    b = workdir / "b"
    bc.link_copy(a, b)
    env = bc.child_env(b, workdir, r.limit, 2)
    r.baseline = bc.run_child(
        "baseline",
        [sys.executable, "-c", "import neo.cli, duckdb; duckdb.sql('SELECT 1')"],
        env,
        workdir,
        workdir / "baseline.log",
    )
    r.compact = bc.run_child(
        "compact", [*neo_command(), "compact", "stk_mins"], env, workdir, workdir / "compact.log"
    )
    if r.compact.code:
        raise RuntimeError(f"neo compact failed: {r.compact.tail}")
    clock.say(
        f"(b) compacted at {r.limit}: {r.compact.wall:.0f}s, peak RSS {r.compact.peak_rss / MB:,.0f} MB"
    )
    r.vacuum = bc.run_child(
        "vacuum",
        [*neo_command(), "vacuum", "stk_mins", "--older-than", "0s"],
        env,
        workdir,
        workdir / "vacuum.log",
    )
    settings_b = load_settings(home=b)
    files_b = manifest.live_files(settings_b.lake_dir, SPEC)
    r.files_b, r.bytes_b = len(files_b), bc.disk_bytes(files_b)

    # 3. natives, and their bytes
    source = f"read_parquet([{', '.join(repr(str(p)) for p in files_b)}])"
    for order, sql in NATIVES.items():
        db = workdir / f"native-{order}.db"
        seconds = native(db, source, sql)
        r.natives[order] = (db.stat().st_size, seconds)
        clock.say(f"native table in {order} order: {db.stat().st_size / MB:,.0f} MB, built in {seconds:.0f}s")

    # status and verify of the minute lake
    r.status_s = neo("status", env=env_for(b, "http://127.0.0.1:9", workdir))
    r.verify_s = neo("verify", "stk_mins", env=env_for(b, "http://127.0.0.1:9", workdir))
    clock.say(f"neo status {r.status_s:.0f}s, neo verify stk_mins {r.verify_s:.0f}s on (b)")

    # 4. queries
    variants = {"(a) fresh files": connect(settings_a), "(b) compacted": connect(settings_b)}
    for order in NATIVES:
        variants[f"native, {order} order"] = duckdb.connect(
            str(workdir / f"native-{order}.db"), read_only=True
        )
    con = variants["(b) compacted"]
    codes = [row[0] for row in con.sql("SELECT DISTINCT ts_code FROM stk_mins ORDER BY 1").fetchall()]
    days = [
        row[0]
        for row in con.sql("SELECT DISTINCT CAST(trade_time AS DATE) FROM stk_mins ORDER BY 1").fetchall()
    ]
    r.times = query_times(variants, args.rounds, codes, days)
    for c in variants.values():
        c.close()
    clock.say("queries measured")
    r.loads = clock.loads
    r.seconds = time.monotonic() - clock.started
    if not args.keep:
        for d in ("base", "a", "b"):
            shutil.rmtree(workdir / d, ignore_errors=True)
        for order in NATIVES:
            (workdir / f"native-{order}.db").unlink(missing_ok=True)
    return r


def _planned(home: Path, url: str, workdir: Path, end: date, codes: list[str]) -> list[dict[str, Any]]:
    """The calls `neo download stk_mins --codes ...` will make, planned without running them."""
    from neo.pipeline.container import AppContainer
    from neo.pipeline.planner import Planner

    settings = load_settings(
        home=home, tushare_url=url, token="bench-token-0123456789", minute_stocks=["all"]
    )
    with AppContainer(settings) as container:
        return [
            q.params for q in Planner(settings, container.ledger).plan(["stk_mins"], end=end, codes=codes)
        ]


# --- the report ----------------------------------------------------------------------------------


def med(xs: list[float]) -> float:
    return statistics.median(xs)


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def report(r: Results, workdir: Path) -> list[str]:
    assert r.full and r.full_plain and r.compact and r.vacuum and r.baseline
    args = r.args
    ratios = [m.rows_per_s / t.rows_per_s for m, t in r.rounds]
    ratio = med(ratios) if ratios else r.full.rows_per_s / r.full_plain.rows_per_s
    limit = bc.parse_size(r.limit)
    over = r.compact.peak_rss - limit
    day_native = r.natives["day"][0]
    per_row_b = r.bytes_b / r.full.rows
    shape_ratio = {s: med(t["(b) compacted"]) / med(t["native, day order"]) for s, t in r.times.items()}
    worst = max(shape_ratio.values())
    load = f"{min(r.loads):.1f} to {max(r.loads):.1f}"
    full, full_plain, compacted = r.full, r.full_plain, r.compact
    whole_year = full.rows_per_s / full_plain.rows_per_s
    worst_shape = max(shape_ratio, key=shape_ratio.__getitem__)
    rss_ok = over <= GOAL_RSS and r.arrow_bytes >= 20 * limit
    lines = [
        "## Minute bars at scale (`make bench-mins`)",
        "",
        f"{args.stocks:,} simulated stocks, {args.year}: {r.stocks_listed:,} listed that year, "
        f"{full.rows:,} 1min bars in {full.calls:,} stk_mins calls, downloaded by "
        "`neo download stk_mins` (minute_stocks = all) from `neo sim serve` with quotas off. Method "
        "and goals: `bench/bench_mins.py`'s docstring. The machine's 1-minute load average was "
        f"{load} during the run ({os.cpu_count()} CPUs). "
        f"CPU {cpu_model()}, {ram()} RAM, {os_name()}; Python {platform.python_version()}, DuckDB "
        f"{duckdb.__version__}, PyArrow {version('pyarrow')}, neo {version('neo')} (git {git_commit()}); "
        f"work directory on {filesystem(workdir)}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{r.seconds / 60:.0f} minutes; `{' '.join(shlex.quote(a) for a in sys.argv)}`.",
        "",
        "| goal | measured | |",
        "|---|---|---|",
        f"| download >= {GOAL_THROUGHPUT}x the simulator's own rate for the same calls | {ratio:.2f}x "
        f"(median of {len(ratios)} rounds; the whole year: {whole_year:.2f}x) "
        f"| {verdict(ratio >= GOAL_THROUGHPUT)} |",
        "| compaction peak RSS <= limit + 300 MB, data >= 20x the limit "
        f"| {compacted.peak_rss / MB:,.0f} MB at {r.limit} (limit {over / MB:+,.0f} MB); data "
        f"{r.arrow_bytes / limit:.0f}x the limit | {verdict(rss_ok)} |",
        f"| bytes on disk <= the same rows in a native DuckDB table | {r.bytes_b / MB:,.0f} MB against "
        f"{day_native / MB:,.0f} MB (day order; {r.bytes_b / day_native:.2f}x) "
        f"| {verdict(r.bytes_b <= day_native)} |",
        f"| the four queries after maintenance within {GOAL_NATIVE:g}x of native (day order) | worst "
        f"{worst:.2f}x ({worst_shape}) | {verdict(worst <= GOAL_NATIVE)} |",
        "",
        "### 1. Download throughput",
        "",
        "| | calls | rows | seconds | rows/s | simulator CPU s |",
        "|---|---|---|---|---|---|",
        *(
            f"| {what} | {t.calls:,} | {t.rows:,} | {t.seconds:,.0f} | {t.rows_per_s:,.0f} "
            f"| {t.sim_cpu:,.0f} |"
            for what, t in (
                ("`neo download stk_mins`, the whole year", full),
                (f"plain client ({FAST_WORKERS} threads), the same calls", full_plain),
            )
        ),
        "",
        f"Interleaved rounds of {args.subset} stocks each (a fresh data root per round):",
        "",
        "| round | calls | pipeline rows/s | plain rows/s | ratio |",
        "|---|---|---|---|---|",
    ]
    for k, (m, t) in enumerate(r.rounds, 1):
        mine, theirs = m.rows_per_s, t.rows_per_s
        lines.append(f"| {k} | {m.calls:,} | {mine:,.0f} | {theirs:,.0f} | {mine / theirs:.2f}x |")
    lines += [
        "",
        "### 2. Compaction",
        "",
        "| | |",
        "|---|---|",
        f"| data in memory (Arrow) | {r.arrow_bytes / MB:,.0f} MB = {r.arrow_bytes / limit:.1f}x the limit |",
        f"| memory limit (NEO_COMPACT_MEMORY_LIMIT), threads | {r.limit}, 2 |",
        f"| files before -> after | {r.files_a:,} -> {r.files_b:,} |",
        f"| compaction wall time | {compacted.wall:,.0f} s ({full.rows / compacted.wall:,.0f} rows/s) |",
        f"| **compaction peak RSS** | **{compacted.peak_rss / MB:,.0f} MB** (limit {over / MB:+,.0f} MB) |",
        f"| baseline process (Python, neo, DuckDB loaded) peak RSS | {r.baseline.peak_rss / MB:,.0f} MB |",
        f"| vacuum wall time | {r.vacuum.wall:,.1f} s |",
        f"| `neo status`, `neo verify stk_mins` on (b) | {r.status_s:,.0f} s, {r.verify_s:,.0f} s |",
        "",
        "### 3. Bytes on disk",
        "",
        "| | bytes | bytes a bar | vs native, day order |",
        "|---|---|---|---|",
    ]
    sizes = [
        ("lake (a): fresh files (zstd)", r.bytes_a),
        ("**lake (b): compacted (zstd, by day then stock)**", r.bytes_b),
        *((f"native DuckDB table, {o} order ({t:.0f} s to build)", n) for o, (n, t) in r.natives.items()),
    ]
    for what, n in sizes:
        lines.append(f"| {what} | {n / MB:,.0f} MB | {n / full.rows:.1f} | {n / day_native:.2f}x |")
    names = list(next(iter(r.times.values())))
    lines += [
        "",
        "### 4. Queries (ms, medians; x = against the native table in day order)",
        "",
        "| query | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for shape, t in r.times.items():
        base = med(t["native, day order"])
        cells = [f"{med(t[n]) * 1000:,.1f} ({med(t[n]) / base:.2f}x)" for n in names]
        lines.append(f"| {shape} | " + " | ".join(cells) + " |")
    lines += ["", *projection(r, per_row_b)]
    return lines


def projection(r: Results, per_row_b: float) -> list[str]:
    """5,400 stocks x 10 years, from the measured rates."""
    assert r.full and r.compact
    calls_per_stock_year = r.full.calls / r.stocks_listed
    rows_per_stock_year = r.full.rows / r.stocks_listed
    calls = FULL_STOCKS * FULL_YEARS * calls_per_stock_year
    rows = FULL_STOCKS * FULL_YEARS * rows_per_stock_year
    compact_rate = r.full.rows / r.compact.wall
    year_rows = FULL_STOCKS * rows_per_stock_year
    return [
        f"### 5. Projection: {FULL_STOCKS:,} stocks x {FULL_YEARS} years, on paper",
        "",
        f"From this run: {calls_per_stock_year:.2f} calls and {rows_per_stock_year:,.0f} bars a stock-year, "
        f"{per_row_b:.1f} bytes a bar compacted, compaction at {compact_rate:,.0f} bars/s under {r.limit}.",
        "",
        "| | figure | from |",
        "|---|---|---|",
        f"| calls | {calls:,.0f} | calls a stock-year x {FULL_STOCKS:,} x {FULL_YEARS} |",
        f"| hours at Tushare's quota ({QUOTA_PER_MIN}/min) | {calls / QUOTA_PER_MIN / 60:,.1f} h "
        f"({calls / QUOTA_PER_MIN / 60 / 24:,.1f} days) | calls / {QUOTA_PER_MIN} a minute |",
        f"| bars | {rows / 1e9:,.2f} billion | bars a stock-year x stocks x years |",
        f"| bytes on disk, compacted | {rows * per_row_b / 1e9:,.0f} GB | bars x bytes a bar |",
        f"| compaction of the history | {rows / compact_rate / 3600:,.1f} h "
        f"({year_rows / compact_rate / 60:,.0f} min a year partition) | bars / the measured rate "
        "(linear: each range reads only its files) |",
        f"| a day's update | {FULL_STOCKS:,} calls = {FULL_STOCKS / QUOTA_PER_MIN:,.0f} min at the quota, "
        f"{FULL_STOCKS * 241 / 1e6:,.1f}M bars | one call a stock |",
        f"| the nightly compaction after it | {year_rows / compact_rate / 60:,.0f} min | the current year's "
        "partition is merged again whole |",
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stocks", type=int, default=1000)
    ap.add_argument("--year", type=int, default=2024)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--subset", type=int, default=100, help="stocks per throughput round")
    ap.add_argument("--data-over-limit", type=int, default=20)
    ap.add_argument("--memory-limit", default="", help="compaction's limit (default: the data / 20)")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "neo-bench-mins")
    ap.add_argument("--keep", action="store_true", help="keep the data roots and native tables")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    clock = Clock()
    results = run(args, args.workdir.resolve(), clock)
    save("mins", report(results, args.workdir))


if __name__ == "__main__":
    main()
