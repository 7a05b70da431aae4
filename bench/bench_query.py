"""The analysts' workload: metadata.db's views against DuckDB's Parquet floor, native DuckDB, the peer.

Goals (issue 21, item 2): the views cost no more than DuckDB reading the same files directly (the
floor), and through `neo.connect()` they come within 2x of the legacy native DuckDB table. This
benchmark measures whatever neo's current code produces: every lake state is built by neo's real
commands in their own processes, the floor reads the files neo's manifest calls live
(`neo.lake.manifest.live_files`), and every derived view and research macro is neo's own SQL
(`neo.lake.catalog.adjusted_view`, `latest_view`, `neo.lake.research`), never a copy of it.

Data: `neo sim serve` (its own process) with `--stocks` stocks from 1 January of the first of
`--years` years to `--end`; D is the simulated market's last trading day on or before `--end`.
Datasets, what the shapes below read and no more: daily, adj_factor, daily_basic, stk_limit and
suspend_d (one call per trading day each); income, balancesheet, cashflow and fina_indicator (one
*_vip call per report period); index_weight of CSI 300 only (one call per month: NEO_INDICES is
000300.SH, the one index the shapes ask for); stock_basic, trade_cal and namechange (snapshots).
`tradability` reads stock_basic, trade_cal, daily, stk_limit, suspend_d and namechange;
`fundamentals_asof` the four statements; `index_members_asof` index_weight. Quotas are off
(NEO_DEFAULT_QUOTA=0, NEO_QUOTAS__stock_basic=0), every other setting at neo's default (fsync on,
compact_memory_limit, compact_after_files, ...).

States, each its own data root (NEO_HOME):
  (a) after a full-history download: `neo download <datasets> --end D-1`, whatever it leaves on
      disk: the download compacts the partitions that got more than compact_after_files new files
      at its end, so the live files are mostly compacted ones, next to the replaced fresh files
      that no vacuum has deleted yet (the views' generation globs still list those directories);
  (b) after maintenance: a copy of (a) (Parquet files hard-linked, bench_compact.link_copy), then
      `neo compact` and `neo vacuum --older-than 0s`; wall time and peak RSS of `neo compact` come
      from wait4 (bench_compact.run_child);
  (c) a daily user's steady state: a copy of (b), then `neo download <datasets> --end D`: one more
      day, plus what a daily run re-pulls (the recent report periods, the snapshots and the current
      month of index_weight: NEO_REFRESH_HOURS=0, as for a user whose last run was a day ago).

Variants, each in a worker process of its own (DuckDB shares one database instance, and its caches,
among a process's connections to a file, and refuses a second configuration for it), each opened
the way its user opens it and kept open for all its queries (warm):
  view: `duckdb.connect(metadata.db, read_only=True)`, as any DuckDB client opens the file;
  view via neo.connect: `neo.connect()` with NEO_HOME at the state's data root (its settings, e.g.
      the Parquet footer cache);
  floor: an in-memory DuckDB (`duckdb.connect()`, defaults) whose view of each dataset is a plain
      `SELECT <declared columns> FROM read_parquet([<every live file by name>], hive_partitioning =
      false)`, no deduplication, no glob, with neo's derived views and research macros on top. A
      plain read is the answer only where no two live files hold a key: where they do (e.g. (c)'s
      re-pulled snapshots and periods), a floor result that differs from the view's is reported,
      not treated as an error;
  one-file (point lookup and day cross-section only): an in-memory DuckDB whose `daily` and
      `daily_basic` read only the live file(s) holding that round's answer (found untimed from the
      files' rows); the physical floor of reading Parquet at all. Twice: with DuckDB's defaults, and
      with the settings `neo.connect()` applies (its connection's `duckdb_settings()` that differ
      from a plain read-only connection's to the same file, SET on an in-memory one);
  native: one DuckDB .db per state as the legacy DBOperator.upsert built it: legacy_writer.create_table
      (declared columns, PRIMARY KEY = DatasetSpec.key; statements keep every version) filled in
      date order (ORDER BY date, key; snapshots by key) from (a)'s views; for (c) a copy of (a)'s
      file, then legacy_writer.upsert of the rows of the files (c)'s download wrote. Derived
      views and research macros: neo's SQL;
  peer: the layout of the best open peer (JY0284/stock-data): one Parquet file per trading day in
      hive partitions `<dataset>/year=YYYY/month=MM/trade_date=YYYYMMDD.parquet` (statements:
      `year=YYYY/quarter=Q/end_date=YYYYMMDD.parquet`; snapshots: `<dataset>/latest.parquet`),
      written with pyarrow's defaults (snappy, as pandas.to_parquet does; declared types, so the SQL
      stays the same), read by views `read_parquet('<dataset>/*/*/*.parquet', hive_partitioning =
      true)` in a DuckDB file, with neo's derived views and research macros on top. (b) uses (a)'s
      peer files: the peer has no maintenance.

Shapes, SQL as an analyst writes it against view names (SHAPES below): one stock's qfq history; one
day's cross-section of daily joined with daily_basic; a month's qfq panel (all stocks); 20-day
momentum on hfq over a year (window function); count/sum/avg of daily by year; one day's
cross-section with each stock's latest income statement known that day; one (ts_code, trade_date)
lookup in daily; one day of `tradability` joined to daily; one day's `fundamentals_asof(d)`; and a
monthly-rebalance backtest as a quant writes it: for every month end of the data that has a next
one, CSI 300's members as of that day (`index_members_asof`), kept if tradable that day
(`tradability`: not suspended, not ST, not closed at the up limit), joined to `fundamentals_asof(d)`
and the next month's return from daily_hfq; one query per month, the loop timed as a whole.

Method: one untimed warm-up run per shape and variant, then `--rounds` rounds; each round runs every
shape on every variant one after the other (interleaved), with the stock/day/month/year of that
round (deterministic, different per round). The backtest loop runs after the rounds, `--loops`
times after its first month as warm-up, month by month with every variant in turn (a loop takes
minutes at the default size: a change of load then hits every variant alike); its time is the sum
of its months' queries. Times are measured in the worker around `con.sql(sql).to_arrow_table()`
(the whole result fetched as Arrow); medians. Every run's result (warm-ups included) is compared
with the view's: sorted by every column, text/dates/integers equal, floats within a relative 1e-9
(sums may differ in the last bits); any difference stops the benchmark (but the floor's, see
above). Each round also times the first query on a new connection: open, one point lookup, close,
timed as a whole, for native, floor (an in-memory database and the one view the lookup reads), view
via duckdb.connect and view via neo.connect, each in a process holding no other connection to that
file.

States are built in `--workdir` (default $TMPDIR/neo-bench-query) under a directory named by the
size. With `--keep`, they stay and a later run with the same size reuses them; `--rebuild` builds
again. A change of neo's code (writer, compaction, views, ...) needs `--rebuild`: the states are what
the code of their build produced (the report warns when src/neo changed since the build).

Usage: python bench/bench_query.py [--stocks 5000] [--years 10] [--end 20241231] [--rounds 5]
           [--loops 1] [--workdir DIR] [--keep] [--rebuild] [--states abc] [--memory-limit 1GB] [--explain]
Quick size for development: --stocks 300 --years 2 (about four minutes on a quiet machine).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import multiprocessing as mp
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path

import _support  # noqa: F401  (tests/support on the import path)
import bench_compact as bc
import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from _results import save
from suite import cpu_model, filesystem, git_commit, os_name, ram
from tests.support.legacy_writer import create_table, upsert
from tests.support.processes import neo_command, spawn

import neo
from neo.core.config import Settings
from neo.datasets import DatasetSpec, get
from neo.lake import manifest, research
from neo.lake.catalog import adjusted_view, latest_view, lit, q
from neo.lake.engine import profile_totals, profiled_operators
from neo.legacy.source import duckdb_type
from neo.sim import calendar

REPO = Path(__file__).resolve().parent.parent
BY_DAY = ("daily", "adj_factor", "daily_basic", "stk_limit", "suspend_d")  # a whole-market call per day
STATEMENTS = ("income", "balancesheet", "cashflow", "fina_indicator")
SNAPSHOTS = ("stock_basic", "trade_cal", "namechange")
INDEX = "000300.SH"
DATED = (*BY_DAY, "index_weight")  # the peer writes a file per trade_date
DATASETS = (*BY_DAY, *STATEMENTS, "index_weight", *SNAPSHOTS)
STATES = ("a", "b", "c")
STATE_NAMES = {
    "a": "(a) after the full-history download",
    "b": "(b) after compact + vacuum",
    "c": "(c) (b) + one daily download",
}
GOAL_FLOOR = 1.15  # view / floor at most, every state
GOAL_NEO = {"a": 3.0, "b": 2.0, "c": 2.0}  # view through neo.connect() / native at most
GOAL_PLAIN = {"a": 4.0, "b": 3.0, "c": 3.0}  # view through duckdb.connect / native at most
GOAL_ONE_FILE = 1.15  # where even the one-file read is slower than the native goal: within this of it
DEFAULT_MEMORY = Settings.model_fields["compact_memory_limit"].default
BUILD_VERSION = 4  # bump when this file builds its states differently

POINT = "point lookup (ts_code, trade_date)"
CROSS = "day's cross-section, daily + daily_basic"
BACKTEST = "monthly CSI 300 backtest loop"
# The shapes: SQL as an analyst writes it, against view names. {code}, {day}, {m0}, {m1}, {y0}, {y1}
# come from the round's parameters; the backtest's {d} and {d1} from the month ends.
SHAPES = {
    "one stock's qfq history": "SELECT * FROM daily_qfq WHERE ts_code = '{code}' ORDER BY trade_date",
    CROSS: (
        "SELECT d.ts_code, d.trade_date, d.open, d.high, d.low, d.close, d.pct_chg, d.vol, d.amount, "
        "b.turnover_rate, b.volume_ratio, b.pe_ttm, b.pb, b.total_mv, b.circ_mv "
        "FROM daily d JOIN daily_basic b ON b.ts_code = d.ts_code AND b.trade_date = d.trade_date "
        "WHERE d.trade_date = DATE '{day}'"
    ),
    "month's qfq panel (all stocks)": (
        "SELECT * FROM daily_qfq WHERE trade_date >= DATE '{m0}' AND trade_date < DATE '{m1}'"
    ),
    "20-day hfq momentum over a year": (
        "SELECT ts_code, trade_date, "
        "close / lag(close, 20) OVER (PARTITION BY ts_code ORDER BY trade_date) - 1 AS mom20 "
        "FROM daily_hfq WHERE trade_date >= DATE '{y0}' AND trade_date < DATE '{y1}'"
    ),
    "full-table aggregate by year": (
        "SELECT year(trade_date) AS year, count(*) AS n, sum(amount) AS amount, avg(close) AS avg_close "
        "FROM daily GROUP BY ALL ORDER BY year"
    ),
    "day's cross-section + latest income known then": (
        "WITH known AS (SELECT ts_code, end_date, f_ann_date, revenue, n_income_attr_p, basic_eps "
        "FROM income WHERE report_type = '1' AND f_ann_date <= DATE '{day}' "
        "QUALIFY row_number() OVER (PARTITION BY ts_code "
        "ORDER BY end_date DESC, update_flag DESC, f_ann_date DESC, ann_date DESC) = 1) "
        "SELECT d.ts_code, d.trade_date, d.close, d.pct_chg, k.end_date, k.f_ann_date, k.revenue, "
        "k.n_income_attr_p, k.basic_eps FROM daily d LEFT JOIN known k ON k.ts_code = d.ts_code "
        "WHERE d.trade_date = DATE '{day}'"
    ),
    POINT: "SELECT * FROM daily WHERE ts_code = '{code}' AND trade_date = DATE '{day}'",
    "day's tradability + daily": (
        "SELECT t.ts_code, t.trade_date, t.suspended, t.up_limit_close, t.down_limit_close, "
        "t.one_price_limit, t.is_st, t.days_listed, d.open, d.close, d.pct_chg, d.amount "
        "FROM tradability t LEFT JOIN daily d ON d.ts_code = t.ts_code AND d.trade_date = t.trade_date "
        "WHERE t.trade_date = DATE '{day}'"
    ),
    "day's fundamentals_asof(d)": "SELECT * FROM fundamentals_asof(DATE '{day}')",
    BACKTEST: (
        "WITH members AS (SELECT con_code AS ts_code, weight "
        f"FROM index_members_asof('{INDEX}', DATE '{{d}}')), "
        "tradable AS (SELECT ts_code FROM tradability WHERE trade_date = DATE '{d}' "
        "AND NOT suspended AND NOT is_st AND NOT up_limit_close), "
        "p0 AS (SELECT ts_code, close FROM daily_hfq WHERE trade_date = DATE '{d}'), "
        "p1 AS (SELECT ts_code, close FROM daily_hfq WHERE trade_date = DATE '{d1}') "
        "SELECT DATE '{d}' AS rebalance_date, m.ts_code, m.weight, f.end_date, f.roe, f.n_income_attr_p, "
        "f.total_hldr_eqy_exc_min_int, f.n_cashflow_act, p1.close / p0.close - 1 AS next_month_return "
        "FROM members m JOIN tradable t ON t.ts_code = m.ts_code "
        "LEFT JOIN fundamentals_asof(DATE '{d}') f ON f.ts_code = m.ts_code "
        "LEFT JOIN p0 ON p0.ts_code = m.ts_code LEFT JOIN p1 ON p1.ts_code = m.ts_code"
    ),
}
ONE_FILE_SHAPES = (POINT, CROSS)
VARIANTS = ("view", "view_neo", "floor", "one_file", "one_file_neo", "native", "peer")
FIRST = ("native", "floor", "view", "view_neo")  # first query on a new connection


def ymd(d: date) -> str:
    return f"{d:%Y%m%d}"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}" if seconds < 10 else f"{seconds * 1000:,.0f}"


def code_fingerprint() -> str:
    """A hash of neo's source: states built by other code are stale."""
    h = hashlib.sha256()
    src = REPO / "src" / "neo"
    for path in sorted(src.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".json"):
            h.update(str(path.relative_to(src)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:12]


# --- neo's SQL over any set of dataset views ---------------------------------------------------------


def derived_views() -> dict[str, str]:
    """neo's derived and research views over the datasets built here, in creation order."""
    out = {"daily_hfq": adjusted_view("hfq"), "daily_qfq": adjusted_view("qfq")}
    out |= {f"{s}_latest": latest_view(get(s)) for s in STATEMENTS}
    wanted = {"tradability", *(f"{s}_pit" for s in STATEMENTS)}
    out |= {n: sql for n, sql in research.views().items() if n in wanted}
    return out


def macro_statements() -> list[str]:
    """neo's CREATE MACRO statements for the macros whose views exist here (a macro binds its views
    when created)."""
    wanted = {f"{s}_asof" for s in STATEMENTS} | {"fundamentals_asof", "index_members_asof"}
    return [
        f"CREATE MACRO {q(name)}({', '.join(params)}) AS TABLE {body}"
        for name, (params, body) in research.macros().items()
        if name in wanted
    ]


def create_derived(con: duckdb.DuckDBPyConnection) -> None:
    for name, sql in derived_views().items():
        con.execute(f"CREATE OR REPLACE VIEW {q(name)} AS {sql}")
    for sql in macro_statements():
        con.execute(sql)


def declared(spec: DatasetSpec) -> str:
    return ", ".join(q(f.name) for f in spec.fields)


def no_rows(spec: DatasetSpec) -> str:
    """The dataset's declared columns and no row: a reader of files that holds none."""
    cols = ", ".join(f"CAST(NULL AS {duckdb_type(f.type)}) AS {q(f.name)}" for f in spec.fields)
    return f"SELECT {cols} WHERE false"


def plain_read(spec: DatasetSpec, files: list[str]) -> str:
    """The floor's view of a dataset: these files read as they are, by name."""
    if not files:
        return no_rows(spec)
    listed = ", ".join(lit(f) for f in files)
    return f"SELECT {declared(spec)} FROM read_parquet([{listed}], hive_partitioning = false)"


def live_files(home: Path) -> dict[str, list[str]]:
    """Every live data file of each dataset, as neo's manifest says."""
    lake = home.resolve() / "parquet"
    return {name: [str(p) for p in manifest.live_files(lake, get(name))] for name in DATASETS}


# --- building the states ----------------------------------------------------------------------------


@dataclass
class Build:
    stocks: int
    start: str
    end: str
    day: str = ""  # D, the market's last trading day
    prev: str = ""  # D-1
    memory_limit: str = DEFAULT_MEMORY
    fingerprint: str = ""
    commit: str = ""
    built_at: str = ""
    version: int = BUILD_VERSION
    seconds: dict[str, float] = field(default_factory=dict)  # build step -> wall seconds
    rss: dict[str, int] = field(default_factory=dict)  # build step -> peak RSS bytes
    files: dict[str, dict[str, list[int]]] = field(default_factory=dict)  # state -> dataset -> [files, bytes]
    rows: dict[str, dict[str, int]] = field(default_factory=dict)  # native a/c -> dataset -> rows
    sizes: dict[str, int] = field(default_factory=dict)  # native_a, native_c, peer_a, peer_c -> bytes
    calls: dict[str, int] = field(default_factory=dict)  # download step -> calls planned
    compact_code: int = 0
    compact_tail: str = ""
    files_after_compact: int = 0  # data files in (b) after compact, before vacuum
    complete: bool = False

    def same_size(self, other: Build) -> bool:
        keys = ("stocks", "start", "end", "memory_limit", "version")
        return all(getattr(self, k) == getattr(other, k) for k in keys)


class Paths:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.homes = {s: root / s for s in STATES}
        self.native = {"a": root / "native_a.db", "b": root / "native_a.db", "c": root / "native_c.db"}
        self.peer = {"a": root / "peer_a", "b": root / "peer_a", "c": root / "peer_c"}
        self.logs = root / "logs"
        self.build = root / "build.json"

    def metadata_db(self, state: str) -> Path:
        return self.homes[state] / "metadata.db"

    def peer_db(self, state: str) -> Path:
        return self.peer[state] / "peer.db"


def say(text: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {text}", flush=True)


def base_env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEO_") and k != "TUSHARE_TOKEN"}
    env["NEO_CONFIG"] = str(root / "no-neo.toml")  # no neo.toml from the working directory
    return env


def download_env(root: Path, home: Path, url: str, start: str) -> dict[str, str]:
    return base_env(root) | {
        "NEO_HOME": str(home),
        "NEO_TUSHARE_URL": url,
        "TUSHARE_TOKEN": "bench",
        "NEO_DEFAULT_QUOTA": "0",
        "NEO_QUOTAS__stock_basic": "0",
        "NEO_HISTORY_START": start,
        "NEO_INDICES": json.dumps([INDEX]),
    }


def run_step(b: Build, step: str, cmd: list[str], env: dict[str, str], paths: Paths) -> bc.Run:
    """One neo command in its own process (wall time, peak RSS); a failure stops the benchmark."""
    say(f"{step}: {shlex.join(cmd[len(neo_command()) - 1 :])}")
    run = bc.run_child(step, cmd, env, paths.root, paths.logs / f"{step}.log")
    b.seconds[step], b.rss[step] = run.wall, run.peak_rss
    say(f"  {step}: exit {run.code}, {run.wall:.1f} s, peak RSS {bc.mb(run.peak_rss)}")
    if run.code != 0 and step != "compact":
        raise SystemExit(f"{step} failed (exit {run.code}): {run.tail}; log {paths.logs / (step + '.log')}")
    return run


def calls_planned(log: Path) -> int:
    """The calls a `neo download` planned, from its last line ('done: N calls planned, ...')."""
    for line in reversed(log.read_text(errors="replace").splitlines()):
        if line.startswith("done:") and "calls planned" in line:
            return int(line.split()[1].replace(",", ""))
    return 0


def vm_hwm(pid: int) -> int:
    """Peak RSS of a running process (VmHWM), bytes."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def lake_files(home: Path) -> dict[str, list[int]]:
    """Per dataset: [data files, bytes] of the Parquet files under the data root, live or not
    (placeholders, zero-row files that keep globs matching, count in bytes only)."""
    out = {}
    for name in DATASETS:
        files = bc.parquet_files(home / "parquet" / name)
        data = [p for p in files if pq.read_metadata(p).num_rows > 0]
        out[name] = [len(data), bc.disk_bytes(files)]
    return out


def start_simulator(b: Build) -> tuple[subprocess.Popen[bytes], str]:
    """A simulator that has built every frame the downloads ask for (the time counts as its start)."""
    say(f"simulator: {b.stocks:,} stocks, {b.start}-{b.end} (D = {b.day})")
    t0 = time.perf_counter()
    proc, url = spawn("--stocks", str(b.stocks), "--start", b.start, "--end", b.end, timeout=1800)
    try:
        warm_simulator(url, b.prev)
    except BaseException:
        proc.terminate()
        proc.wait()
        raise
    b.seconds["simulator start"] = time.perf_counter() - t0
    say(f"  listening and warm after {b.seconds['simulator start']:.1f} s, RSS {bc.mb(vm_hwm(proc.pid))}")
    return proc, url


# One call each, one after the other, before a download's concurrent calls: the simulator builds a
# frame it has not built yet in every thread that asks for it at once (neo.sim.query.Tables.get
# builds outside its lock), and four download threads building stk_limit's at 5,000 stocks x 10
# years took it past 22 GB, killed for memory. Built once, the frame is shared. It builds daily,
# adj_factor, daily_basic, weekly and monthly at its start; statements are small, per period.
WARM_CALLS = {
    "stk_limit": {"trade_date": "{day}"},
    "suspend_d": {"trade_date": "{day}"},
    "namechange": {},
    "index_weight": {"index_code": INDEX, "start_date": "{day}", "end_date": "{day}"},
    "stock_basic": {},
    "trade_cal": {"exchange": "SSE"},
}


def warm_simulator(url: str, day: str) -> None:
    for api, params in WARM_CALLS.items():
        body = {
            "api_name": api,
            "token": "bench",
            "params": {k: v.format(day=day) for k, v in params.items()},
        }
        request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=1800) as reply:
            code = json.loads(reply.read()).get("code")
        if code != 0:
            raise SystemExit(f"simulator: {api} answered code {code}")


def build(b: Build, paths: Paths) -> None:
    shutil.rmtree(paths.root, ignore_errors=True)
    paths.logs.mkdir(parents=True)
    end = datetime.strptime(b.end, "%Y%m%d").date()
    d = calendar.prev_open_day(end + timedelta(days=1))
    b.day, b.prev = ymd(d), ymd(calendar.prev_open_day(d))
    b.fingerprint, b.commit = code_fingerprint(), git_commit()
    b.built_at = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    neo_cmd = neo_command()
    proc, url = start_simulator(b)
    try:
        env = download_env(paths.root, paths.homes["a"], url, b.start)
        run_step(b, "download a", [*neo_cmd, "download", *DATASETS, "--end", b.prev], env, paths)
        b.calls["download a"] = calls_planned(paths.logs / "download a.log")
        b.files["a"] = lake_files(paths.homes["a"])

        say("(b): hard-linked copy of (a), compact, vacuum")
        bc.link_copy(paths.homes["a"], paths.homes["b"])
        env = base_env(paths.root) | {"NEO_HOME": str(paths.homes["b"])}
        if b.memory_limit != DEFAULT_MEMORY:
            env["NEO_COMPACT_MEMORY_LIMIT"] = b.memory_limit
        compact = run_step(b, "compact", [*neo_cmd, "compact"], env, paths)
        b.compact_code, b.compact_tail = compact.code, compact.tail
        if compact.code != 0:
            raise SystemExit(f"neo compact failed (exit {compact.code}): {compact.tail}")
        b.files_after_compact = sum(v[0] for v in lake_files(paths.homes["b"]).values())
        run_step(b, "vacuum", [*neo_cmd, "vacuum", "--older-than", "0s"], env, paths)
        b.files["b"] = lake_files(paths.homes["b"])

        say("(c): hard-linked copy of (b), download of day D")
        bc.link_copy(paths.homes["b"], paths.homes["c"])
        env = download_env(paths.root, paths.homes["c"], url, b.start) | {"NEO_REFRESH_HOURS": "0"}
        run_step(b, "download c", [*neo_cmd, "download", *DATASETS, "--end", b.day], env, paths)
        b.calls["download c"] = calls_planned(paths.logs / "download c.log")
        b.files["c"] = lake_files(paths.homes["c"])
    finally:
        b.rss["simulator start"] = vm_hwm(proc.pid)  # its peak over all it served
        proc.terminate()
        proc.wait()

    say("native tables (legacy layout) from (a)'s views")
    t0 = time.perf_counter()
    b.rows["a"] = load_native(paths.native["a"], paths.metadata_db("a"))
    b.seconds["native a"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    b.rows["c"] = update_native(paths.native["a"], paths.native["c"], paths.homes["b"], paths.homes["c"])
    b.seconds["native c"] = time.perf_counter() - t0
    say(f"  native: {b.seconds['native a']:.1f} s + {b.seconds['native c']:.1f} s")

    say("peer layout (one file per day, year=/month=)")
    t0 = time.perf_counter()
    write_peer(paths.native["a"], paths.peer["a"])
    b.seconds["peer a"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    write_peer(paths.native["c"], paths.peer["c"], link_from=paths.peer["a"], after=b.prev)
    b.seconds["peer c"] = time.perf_counter() - t0
    for s in ("a", "c"):
        b.sizes[f"native_{s}"] = paths.native[s].stat().st_size
        b.sizes[f"peer_{s}"] = bc.disk_bytes(bc.parquet_files(paths.peer[s]))
    b.complete = True
    paths.build.write_text(json.dumps(asdict(b), indent=1))


def row_order(spec: DatasetSpec) -> str:
    """The order a date-by-date legacy upsert leaves the rows in; a snapshot's, by key."""
    first = [spec.date_column] if spec.date_column else []
    return ", ".join(q(c) for c in dict.fromkeys([*first, *spec.key]))


def load_native(db: Path, metadata_db: Path) -> dict[str, int]:
    """The legacy tables: PRIMARY KEY, rows in date order, from the lake's views."""
    db.unlink(missing_ok=True)
    con = duckdb.connect(str(db))
    try:
        con.execute(f"ATTACH {lit(str(metadata_db))} AS lake (READ_ONLY)")
        for name in DATASETS:
            spec = get(name)
            create_table(con, spec)
            order = row_order(spec)
            # A PRIMARY KEY column is NOT NULL: the legacy table never held a row with a null in its
            # key (a statement version without f_ann_date), as legacy_writer.upsert drops them.
            keyed = " AND ".join(f"{q(k)} IS NOT NULL" for k in spec.key)
            con.execute(
                f"INSERT INTO {q(name)} SELECT {declared(spec)} FROM lake.{q(name)} "
                f"WHERE {keyed} ORDER BY {order}"
            )
        con.execute("DETACH lake")
        create_derived(con)
        con.execute("CHECKPOINT")
        return {n: con.sql(f"SELECT count(*) FROM {q(n)}").fetchall()[0][0] for n in DATASETS}
    finally:
        con.close()


def update_native(src: Path, db: Path, before: Path, after: Path) -> dict[str, int]:
    """(a)'s legacy database plus what (c)'s download wrote, upserted as DBOperator.upsert did: the
    rows of every Parquet file in `after` that `before` does not have, latest per key."""
    shutil.copyfile(src, db)
    con = duckdb.connect(str(db))
    try:
        for name in DATASETS:
            spec = get(name)
            old = {p.relative_to(before) for p in bc.parquet_files(before / "parquet" / name)}
            new = [p for p in bc.parquet_files(after / "parquet" / name) if p.relative_to(after) not in old]
            if not new:
                continue
            files = ", ".join(lit(str(p)) for p in new)
            key = ", ".join(q(k) for k in spec.key)
            batch = con.sql(
                f"SELECT {declared(spec)} FROM read_parquet([{files}], hive_partitioning = false) "
                f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY _fetched_at DESC) = 1 "
                f"ORDER BY {row_order(spec)}"
            ).to_arrow_table()
            if batch.num_rows:
                upsert(con, spec, batch)
        con.execute("CHECKPOINT")
        return {n: con.sql(f"SELECT count(*) FROM {q(n)}").fetchall()[0][0] for n in DATASETS}
    finally:
        con.close()


def write_peer(native: Path, out: Path, link_from: Path | None = None, after: str | None = None) -> None:
    """The peer's layout from the native tables: one file per trading day (per report period for
    statements) in year=/month= (year=/quarter=) partitions, one file per snapshot, pyarrow
    defaults; with `link_from`, dated files up to `after` are hard links to that layout's (unchanged
    days) and statements and snapshots are written again whole (the peer overwrites a re-pulled
    period's file and a snapshot)."""
    shutil.rmtree(out, ignore_errors=True)
    con = duckdb.connect(str(native), read_only=True)
    try:
        for name in DATED:
            spec = get(name)
            first = date(1900, 1, 1)
            if link_from is not None and after is not None:
                for p in bc.parquet_files(link_from / name):
                    target = out / p.relative_to(link_from)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.link(p, target)
                first = datetime.strptime(after, "%Y%m%d").date() + timedelta(days=1)
            years = con.sql(
                f"SELECT DISTINCT year(trade_date) FROM {q(name)} WHERE trade_date >= ? ORDER BY 1",
                params=[first],
            ).fetchall()
            for (year,) in years:
                lo, hi = max(first, date(year, 1, 1)), date(year + 1, 1, 1)
                table = con.sql(
                    f"SELECT {declared(spec)} FROM {q(name)} WHERE trade_date >= ? AND trade_date < ? "
                    f"ORDER BY {row_order(spec)}",
                    params=[lo, hi],
                ).to_arrow_table()
                write_parts(table, "trade_date", out / name, lambda d: f"year={d:%Y}/month={d:%m}")
        for name in (*STATEMENTS, *SNAPSHOTS):
            spec = get(name)
            sql = f"SELECT {declared(spec)} FROM {q(name)} ORDER BY {row_order(spec)}"
            table = con.sql(sql).to_arrow_table()
            if name in STATEMENTS:
                write_parts(table, "end_date", out / name, quarter_partition)
                continue
            (out / name).mkdir(parents=True, exist_ok=True)
            pq.write_table(table, out / name / "latest.parquet")
    finally:
        con.close()
    peer_views(out)


def quarter_partition(d: date) -> str:
    return f"year={d:%Y}/quarter={(d.month - 1) // 3 + 1}"


def write_parts(table: pa.Table, column: str, root: Path, partition: Callable[[date], str]) -> None:
    """One file per value of `column` (the table is sorted by it)."""
    if not table.num_rows:
        return
    values = table.column(column).cast(pa.int32()).to_numpy()
    bounds = np.flatnonzero(np.diff(values)) + 1
    for lo, hi in zip([0, *bounds], [*bounds, len(values)], strict=True):
        part = table.slice(lo, hi - lo)
        d = part.column(column)[0].as_py()
        path = root / partition(d) / f"{column}={ymd(d)}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(part, path)


def peer_views(out: Path) -> None:
    db = out / "peer.db"
    db.unlink(missing_ok=True)
    con = duckdb.connect(str(db))
    try:
        for name in DATASETS:
            spec = get(name)
            pattern = "*.parquet" if name in SNAPSHOTS else "*/*/*.parquet"
            if not list((out / name).glob(pattern)):
                con.execute(f"CREATE VIEW {q(name)} AS {no_rows(spec)}")
                continue
            glob = lit(str(out.resolve() / name / pattern))
            con.execute(
                f"CREATE VIEW {q(name)} AS SELECT {declared(spec)} "
                f"FROM read_parquet({glob}, hive_partitioning = true)"
            )
        create_derived(con)
    finally:
        con.close()


# --- the variants: a connection each, in a process of its own --------------------------------------


@dataclass(frozen=True)
class Opener:
    """How a variant opens its connection (picklable: the worker process opens it)."""

    kind: str  # file: a .db read-only; neo: neo.connect() on a data root; floor; memory
    path: str = ""  # file: the .db; neo, memory: the data root whose neo.connect() settings apply
    files: tuple[tuple[str, tuple[str, ...]], ...] = ()  # floor: (dataset, live files)
    only: tuple[str, ...] = ()  # floor: just these datasets' views, nothing derived (a first query)

    def open(self) -> duckdb.DuckDBPyConnection:
        if self.kind == "file":
            return duckdb.connect(self.path, read_only=True)
        if self.kind == "neo":
            os.environ["NEO_HOME"] = self.path
            return neo.connect()
        con = duckdb.connect()
        if self.kind == "memory" and self.path:
            for name, value in neo_connect_settings(Path(self.path)).items():
                con.execute(f"SET {name} = {lit(value)}")
        if self.kind == "floor":
            for name, files in self.files:
                if not self.only or name in self.only:
                    con.execute(f"CREATE VIEW {q(name)} AS {plain_read(get(name), list(files))}")
            if not self.only:
                create_derived(con)
        return con


def neo_connect_settings(home: Path) -> dict[str, str]:
    """The DuckDB settings neo.connect() applies: those of its connection that differ from a plain
    in-memory connection's with the same metadata.db attached read-only and in use, as neo.connect()
    opens it (opened one after the other: DuckDB refuses two configurations of one file in a
    process)."""
    sql = "SELECT name, value FROM duckdb_settings()"
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH {lit(str(home / 'metadata.db'))} AS metadata (READ_ONLY)")
        con.execute("USE metadata")
        plain = dict(con.sql(sql).fetchall())
    finally:
        con.close()
    os.environ["NEO_HOME"] = str(home)
    con = neo.connect()
    try:
        applied = dict(con.sql(sql).fetchall())
    finally:
        con.close()
    return {k: v for k, v in applied.items() if v is not None and plain.get(k) != v}


def to_ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def from_ipc(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(data).read_all()


def serve(pipe: Connection, opener: Opener, warm: bool) -> None:
    """A worker: runs the statements it is sent on its connection, timing each batch as a whole."""
    con = quiet(opener.open()) if warm else None
    while True:
        command, arg = pipe.recv()
        if command == "close":
            break
        try:
            if command == "exec":
                assert con is not None
                con.execute(arg)
                pipe.send(("ok", 0.0))
                continue
            started = time.perf_counter()
            if command == "first":  # a lookup draws no progress bar: nothing to silence
                fresh = opener.open()
                tables = [fresh.sql(arg[0]).to_arrow_table()]
                fresh.close()
            else:
                assert con is not None
                tables = [con.sql(sql).to_arrow_table() for sql in arg]
            elapsed = time.perf_counter() - started
            pipe.send(("ok", elapsed))
            pipe.send_bytes(to_ipc(pa.concat_tables(tables) if len(tables) > 1 else tables[0]))
        except Exception as exc:  # the main process reports it and stops
            pipe.send(("error", f"{type(exc).__name__}: {exc}"))
    if con is not None:
        con.close()


def quiet(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """No progress bar (DuckDB draws one on stderr for queries over 2 s, as a script would not)."""
    con.execute("SET enable_progress_bar = false")
    return con


class Worker:
    """One variant's connection in a process of its own."""

    def __init__(self, name: str, opener: Opener, warm: bool = True) -> None:
        self.name = name
        self.pipe, child = mp.get_context("spawn").Pipe()
        self.process = mp.get_context("spawn").Process(target=serve, args=(child, opener, warm), daemon=True)
        self.process.start()
        child.close()

    def _reply(self) -> float:
        status, value = self.pipe.recv()
        if status != "ok":
            raise SystemExit(f"{self.name}: {value}")
        return value

    def execute(self, sql: str) -> None:
        """Untimed: a statement that sets up the connection (the one-file views of a round)."""
        self.pipe.send(("exec", sql))
        self._reply()

    def run(self, sqls: list[str], command: str = "run") -> tuple[float, pa.Table]:
        """Seconds the statements took together, and their results (concatenated)."""
        self.pipe.send((command, sqls))
        elapsed = self._reply()
        return elapsed, from_ipc(self.pipe.recv_bytes())

    def close(self) -> None:
        with suppress(OSError):
            self.pipe.send(("close", None))
        self.process.join(timeout=30)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


@contextmanager
def workers(openers: dict[str, tuple[Opener, bool]]) -> Iterator[dict[str, Worker]]:
    started: dict[str, Worker] = {}
    try:
        for name, (opener, warm) in openers.items():
            started[name] = Worker(name, opener, warm)
        yield started
    finally:
        for w in started.values():
            w.close()


# --- measuring -------------------------------------------------------------------------------------


@dataclass
class Params:
    code: str
    day: date
    month: date
    year: int

    def sql(self, template: str) -> str:
        m1 = (self.month.replace(day=28) + timedelta(days=4)).replace(day=1)
        return template.format(
            code=self.code,
            day=self.day,
            m0=self.month,
            m1=m1,
            y0=date(self.year, 1, 1),
            y1=date(self.year + 1, 1, 1),
        )


def round_params(native: Path, rounds: int) -> list[Params]:
    """Round 0 is the warm-up. Stocks with a long history, days of the whole calendar, the
    point lookup a (stock, day) that exists; chosen by fixed strides, so every run picks the same."""
    con = duckdb.connect(str(native), read_only=True)
    try:
        codes = [
            r[0]
            for r in con.sql(
                "SELECT ts_code FROM daily GROUP BY ts_code "
                "HAVING count(*) >= 0.5 * (SELECT count(DISTINCT trade_date) FROM daily) ORDER BY ts_code"
            ).fetchall()
        ]
        days = [r[0] for r in con.sql("SELECT DISTINCT trade_date FROM daily ORDER BY 1").fetchall()]
        years = sorted({d.year for d in days})
        out = []
        for r in range(rounds + 1):
            day = days[(r * 104_729 + 3) % len(days)]
            on_day = [
                x[0]
                for x in con.sql(
                    "SELECT ts_code FROM daily WHERE trade_date = ? ORDER BY 1", params=[day]
                ).fetchall()
            ]
            code = codes[(r * 7_919 + 17) % len(codes)]
            if code not in on_day:  # suspended that day: the point lookup needs a row
                code = on_day[(r * 7_919 + 17) % len(on_day)]
            month = days[(r * 7_877 + 11) % len(days)].replace(day=1)
            out.append(Params(code, day, month, years[(r * 3 + 1) % len(years)]))
        return out
    finally:
        con.close()


def month_ends(native: Path) -> list[tuple[date, date]]:
    """(month end, next month end) for every month of daily's days that has a next one."""
    con = duckdb.connect(str(native), read_only=True)
    try:
        ends = [
            r[0]
            for r in con.sql(
                "SELECT max(trade_date) FROM daily GROUP BY date_trunc('month', trade_date) ORDER BY 1"
            ).fetchall()
        ]
    finally:
        con.close()
    return list(itertools.pairwise(ends))


def statements(shape: str, p: Params, ends: list[tuple[date, date]]) -> list[str]:
    template = SHAPES[shape]
    if shape == BACKTEST:
        return [template.format(d=d, d1=d1) for d, d1 in ends]
    return [p.sql(template)]


def holding_files(files: dict[str, list[str]], shape: str, p: Params) -> dict[str, list[str]]:
    """The live files of daily (and daily_basic) that hold the shape's answer for this round."""
    names = ("daily",) if shape == POINT else ("daily", "daily_basic")
    where = f"trade_date = DATE '{p.day}'" + (f" AND ts_code = '{p.code}'" if shape == POINT else "")
    con = duckdb.connect()
    try:
        out = {}
        for name in names:
            listed = ", ".join(lit(f) for f in files[name])
            out[name] = [
                r[0]
                for r in con.sql(
                    f"SELECT DISTINCT filename FROM read_parquet([{listed}], filename = true, "
                    f"hive_partitioning = false) WHERE {where} ORDER BY 1"
                ).fetchall()
            ]
        return out
    finally:
        con.close()


def canonical(t: pa.Table) -> pa.Table:
    """The rows sorted by every column (text, dates and integers first): results compare as sets."""
    first = [n for n in t.column_names if not pa.types.is_floating(t.schema.field(n).type)]
    rest = [n for n in t.column_names if n not in first]
    return t.sort_by([(n, "ascending") for n in first + rest]) if t.num_rows else t


def differs(a: pa.Table, b: pa.Table) -> str | None:
    """Why two results differ, or None: same columns and rows; floats within a relative 1e-9."""
    if a.column_names != b.column_names:
        return f"columns {a.column_names} vs {b.column_names}"
    if a.num_rows != b.num_rows:
        return f"{a.num_rows} vs {b.num_rows} rows"
    a, b = canonical(a), canonical(b)
    for name in a.column_names:
        x, y = a.column(name), b.column(name)
        if x.type != y.type:
            return f"{name}: type {x.type} vs {y.type}"
        if pa.types.is_floating(x.type):
            if not pc.equal(pc.is_null(x), pc.is_null(y)).to_numpy().all():
                return f"{name}: NULLs differ"
            xv = x.to_numpy(zero_copy_only=False).astype(float)
            yv = y.to_numpy(zero_copy_only=False).astype(float)
            if not np.allclose(xv, yv, rtol=1e-9, atol=0.0, equal_nan=True):
                bad = int(np.flatnonzero(~np.isclose(xv, yv, rtol=1e-9, atol=0.0, equal_nan=True))[0])
                return f"{name}: {xv[bad]!r} vs {yv[bad]!r} (row {bad} sorted)"
        elif not x.equals(y):
            return f"{name}: values differ"
    return None


def doubled_keys(files: dict[str, list[str]]) -> dict[str, int]:
    """Per dataset, the keys that more than one row of its live files holds (a plain read shows
    them more than once; the view shows the latest)."""
    con = duckdb.connect()
    try:
        out = {}
        for name, paths in files.items():
            if not paths:
                continue
            key = ", ".join(q(k) for k in get(name).key)
            sql = (
                f"SELECT count(*) FROM (SELECT 1 FROM ({plain_read(get(name), paths)}) "
                f"GROUP BY {key} HAVING count(*) > 1)"
            )
            n = con.sql(sql).fetchall()[0][0]
            if n:
                out[name] = n
        return out
    finally:
        con.close()


@dataclass
class StateResult:
    medians: dict[str, dict[str, float]]  # shape -> variant -> seconds
    first: dict[str, float]  # variant -> seconds: connect + point lookup + close
    rows: dict[str, int]  # shape -> result rows (last round)
    load: tuple[float, float]
    checked: int  # result comparisons done
    files: dict[str, int]  # dataset -> live files
    one_files: dict[str, int]  # shape -> files the one-file variant read (last round)
    doubled: dict[str, int]  # dataset -> keys its live files hold more than once
    loop: int  # the backtest's queries
    floor_differs: dict[str, str] = field(default_factory=dict)  # shape -> why (doubled keys)
    null_keys: dict[str, int] = field(default_factory=dict)  # dataset -> view rows with a null key column
    legacy_differs: dict[str, str] = field(default_factory=dict)  # "shape, variant" -> why (null keys)


class Checker:
    """Compares every result with the view's; a difference stops the benchmark, but the floor's
    where the live files hold keys twice (its plain read is then not the answer), and native's and
    the peer's where the lake holds rows with a null key column (the legacy table, and the peer files
    written from it, cannot hold them)."""

    def __init__(self, state: str, doubled: dict[str, int], null_keys: dict[str, int]) -> None:
        self.state, self.doubled, self.null_keys = state, doubled, null_keys
        self.checked = 0
        self.floor_differs: dict[str, str] = {}
        self.legacy_differs: dict[str, str] = {}

    def __call__(self, shape: str, results: dict[str, pa.Table], sql: str, when: str) -> None:
        for v, result in results.items():
            if v == "view":
                continue
            why = differs(results["view"], result)
            if why and v == "floor" and self.doubled:
                self.floor_differs.setdefault(shape, why)
            elif why and v in ("native", "peer") and self.null_keys:
                self.legacy_differs.setdefault(f"{shape}, {v}", why)
            elif why:
                raise SystemExit(f"state {self.state}, {shape}, {when}: view and {v} differ: {why}\n{sql}")
            self.checked += 1


def null_keys(metadata_db: Path) -> dict[str, int]:
    """Per dataset, the view's rows with a null in a key column (legacy tables cannot hold them)."""
    con = duckdb.connect(str(metadata_db), read_only=True)
    try:
        out = {}
        for name in DATASETS:
            spec = get(name)
            nulls = " OR ".join(f"{q(k)} IS NULL" for k in spec.key)
            n = con.sql(f"SELECT count(*) FROM {q(name)} WHERE {nulls}").fetchall()[0][0]
            if n:
                out[name] = n
        return out
    finally:
        con.close()


def measure(
    state: str, paths: Paths, params: list[Params], ends: list[tuple[date, date]], rounds: int, loops: int
) -> StateResult:
    home = paths.homes[state].resolve()
    files = live_files(home)
    floor = Opener("floor", files=tuple((n, tuple(f)) for n, f in files.items()))
    warm = {
        "view": Opener("file", str(paths.metadata_db(state))),
        "view_neo": Opener("neo", str(home)),
        "floor": floor,
        "one_file": Opener("memory"),
        "one_file_neo": Opener("memory", str(home)),
        "native": Opener("file", str(paths.native[state])),
        "peer": Opener("file", str(paths.peer_db(state))),
    }
    cold = {
        "native": Opener("file", str(paths.native[state])),
        "floor": Opener("floor", files=floor.files, only=("daily",)),
        "view": Opener("file", str(paths.metadata_db(state))),
        "view_neo": Opener("neo", str(home)),
    }
    doubled = doubled_keys(files)
    nulls = null_keys(paths.metadata_db(state))
    check = Checker(state, doubled, nulls)
    times: dict[str, dict[str, list[float]]] = {s: {v: [] for v in VARIANTS} for s in SHAPES}
    first: dict[str, list[float]] = {v: [] for v in FIRST}
    rows: dict[str, int] = {}
    one_files: dict[str, int] = {}
    load0 = os.getloadavg()[0]
    openers = {v: (o, True) for v, o in warm.items()} | {f"first {v}": (o, False) for v, o in cold.items()}
    with workers(openers) as w:
        for r in range(rounds + 1):
            when = "warm-up" if r == 0 else f"round {r}"
            for shape in SHAPES:
                if shape == BACKTEST:
                    continue
                sqls = statements(shape, params[r], ends)
                variants = [v for v in VARIANTS if shape in ONE_FILE_SHAPES or not v.startswith("one_file")]
                if shape in ONE_FILE_SHAPES:
                    holding = holding_files(files, shape, params[r])
                    one_files[shape] = sum(len(f) for f in holding.values())
                    for name, found in holding.items():
                        view = f"CREATE OR REPLACE VIEW {q(name)} AS {plain_read(get(name), found)}"
                        w["one_file"].execute(view)
                        w["one_file_neo"].execute(view)
                results = {}
                for v in variants:
                    elapsed, results[v] = w[v].run(sqls)
                    if r:
                        times[shape][v].append(elapsed)
                check(shape, results, sqls[0], when)
                rows[shape] = results["view"].num_rows
            lookup = [params[r].sql(SHAPES[POINT])]
            found = {}
            for v in FIRST:
                elapsed, found[v] = w[f"first {v}"].run(lookup, "first")
                if r:
                    first[v].append(elapsed)
            for v in FIRST[1:]:
                if why := differs(found[FIRST[0]], found[v]):
                    raise SystemExit(f"state {state}, first query, {when}: native and {v} differ: {why}")
                check.checked += 1
            say(f"  state {state}: {when} done")
        # The backtest loop, month by month with every variant in turn, so that a change of load
        # during a loop of minutes hits all variants alike; a variant's loop time is the sum of its
        # months. Warm-up: the first month.
        loop = statements(BACKTEST, params[0], ends)
        variants = [v for v in VARIANTS if not v.startswith("one_file")]
        for n in range(loops + 1):
            total = dict.fromkeys(variants, 0.0)
            rows[BACKTEST] = 0
            for i, sql in enumerate(loop[:1] if n == 0 else loop):
                results = {}
                for v in variants:
                    elapsed, results[v] = w[v].run([sql])
                    total[v] += elapsed
                check(BACKTEST, results, sql, f"loop {n}, month {i + 1}")
                rows[BACKTEST] += results["view"].num_rows
            if n:
                for v in variants:
                    times[BACKTEST][v].append(total[v])
            say(f"  state {state}: backtest {'warm-up' if n == 0 else f'loop {n}/{loops}'} done")
    medians = {s: {v: statistics.median(t) for v, t in vt.items() if t} for s, vt in times.items()}
    return StateResult(
        medians,
        {v: statistics.median(t) for v, t in first.items()},
        rows,
        (load0, os.getloadavg()[0]),
        check.checked,
        {n: len(f) for n, f in files.items()},
        one_files,
        doubled,
        len(ends),
        check.floor_differs,
        nulls,
        check.legacy_differs,
    )


@dataclass
class Profile:
    """What one EXPLAIN ANALYZE says: latency, rows the scans read, files opened, costliest operators."""

    latency: float
    rows_scanned: int
    files: int
    top: list[tuple[str, float, int]]  # (operator, seconds, output rows), costliest first


def profile(con: duckdb.DuckDBPyConnection, sql: str) -> Profile:
    plan = json.loads(con.sql("EXPLAIN (ANALYZE, FORMAT JSON) " + sql).fetchall()[0][1])
    ops: list[tuple[str, float, int]] = []
    files = 0
    for op in profiled_operators(plan):
        name = op.name
        files += int(op.info.get("Total Files Read", 0) or 0)
        if op.info.get("Join Type"):
            name = f"{name} {op.info['Join Type']}"
        elif op.info.get("Table"):
            name = f"{name} {op.info['Table']}"
        ops.append((name, op.seconds, op.rows))
    ops.sort(key=lambda o: -o[1])
    latency, rows_scanned = profile_totals(plan)
    return Profile(latency, rows_scanned, files, ops[:3])


EXPLAINED = ("view", "floor", "native")


def explain(
    state: str, paths: Paths, p: Params, ends: list[tuple[date, date]], out: Path
) -> dict[str, dict[str, Profile]]:
    """EXPLAIN ANALYZE of every shape (the backtest: its first month) on the view, the floor and,
    for reference, native (warm connections, the first timed round's parameters): a summary per
    shape, and every plan as text under `out`."""
    out.mkdir(parents=True, exist_ok=True)
    files = live_files(paths.homes[state].resolve())
    openers = {
        "view": Opener("file", str(paths.metadata_db(state))),
        "floor": Opener("floor", files=tuple((n, tuple(f)) for n, f in files.items())),
        "native": Opener("file", str(paths.native[state])),
    }
    found: dict[str, dict[str, Profile]] = {shape: {} for shape in SHAPES}
    for variant in EXPLAINED:
        con = openers[variant].open()
        try:
            for i, shape in enumerate(SHAPES):
                sql = statements(shape, p, ends[:1])[0]
                con.sql(sql).to_arrow_table()  # warm, as measured
                found[shape][variant] = profile(con, sql)
                text = "\n".join(str(row[1]) for row in con.sql("EXPLAIN ANALYZE " + sql).fetchall())
                (out / f"{state}-{variant}-{i + 1}.txt").write_text(f"-- {shape}\n{sql}\n\n{text}\n")
        finally:
            con.close()
    return found


def explain_lines(profiles: dict[str, dict[str, dict[str, Profile]]], where: Path) -> list[str]:
    lines = [
        "",
        "Where the view's time goes: `EXPLAIN (ANALYZE, FORMAT JSON)` of each shape (round 1's parameters, "
        "the backtest's first month, warm plain connections): the profiler's latency, Parquet files opened, "
        "and the three costliest operators of the view and of the floor (operator time summed over threads, "
        f"output rows); native: latency and rows of the row groups its scans read. Plans as text: `{where}`.",
        "",
        "| shape | state | view latency | files opened | view's costliest operators | floor latency "
        "| files opened | floor's costliest operators | native latency | native rows read |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]

    def top(p: Profile) -> str:
        return "; ".join(f"{n} {t * 1000:,.1f} ms ({rows:,})" for n, t, rows in p.top)

    for shape in SHAPES:
        for i, (state, by_shape) in enumerate(profiles.items()):
            view, floor, native = (by_shape[shape][v] for v in EXPLAINED)
            lines.append(
                f"| {shape if i == 0 else ''} | {state} | {view.latency * 1000:,.1f} ms | {view.files:,} | "
                f"{top(view)} | {floor.latency * 1000:,.1f} ms | {floor.files:,} | {top(floor)} | "
                f"{native.latency * 1000:,.1f} ms | {native.rows_scanned:,} |"
            )
    return lines


# --- the report ------------------------------------------------------------------------------------


@dataclass
class Goals:
    met: dict[str, int] = field(default_factory=dict)  # goal -> cells met
    total: dict[str, int] = field(default_factory=dict)  # goal -> cells judged

    def judge(self, goal: str, ok: bool) -> bool:
        self.met[goal] = self.met.get(goal, 0) + ok
        self.total[goal] = self.total.get(goal, 0) + 1
        return ok


def native_goal(m: dict[str, float], variant: str, one_file: str, limit: float) -> tuple[bool, str]:
    """The view through `variant` against native: within `limit` x native, or, where even the
    one-file read is slower than that, within GOAL_ONE_FILE of the one-file read."""
    ratio = m[variant] / m["native"]
    if one_file in m and m[one_file] > limit * m["native"]:
        target = GOAL_ONE_FILE * m[one_file]
        ok = m[variant] <= target
        return ok, f"{'met' if ok else '**not met**'} (one-file rule: <= {ms(target)} ms)"
    ok = ratio <= limit
    return ok, "met" if ok else f"**not met** (<= {limit:g}x)"


def report(
    b: Build,
    results: dict[str, StateResult],
    args: argparse.Namespace,
    command: str,
    paths: Paths,
    reused: bool,
    seconds: float,
    measuring: dict[str, float],
) -> list[str]:
    limit = bc.parse_size(b.memory_limit)
    years = int(b.end[:4]) - int(b.start[:4]) + 1
    rows_a, rows_c = b.rows["a"], b.rows["c"]
    any_state = next(iter(results.values()))
    neo_settings = neo_connect_settings(paths.homes[next(iter(results))].resolve())
    lines = [
        "## Analysts' queries: metadata.db against DuckDB's Parquet floor, the native DuckDB table "
        "and the peer's layout",
        "",
        f"Data: the simulator's market, {b.stocks:,} stocks, {b.start}-{b.end} ({years} years), D = {b.day}: "
        + ", ".join(f"{n} {rows_a[n]:,}" for n in DATASETS)
        + f" rows in (a); (c) adds day D ({rows_c['daily'] - rows_a['daily']:,} daily rows), the re-pulled "
        "report periods and snapshots. Built with `neo download` (quotas off), `neo compact`, "
        "`neo vacuum --older-than 0s` (bench/bench_query.py's docstring has the method). Timings: "
        f"milliseconds, median of {args.rounds} interleaved rounds after one untimed warm-up, each "
        "variant on one warm connection in a process of its own, result fetched as Arrow; every run's "
        f"result is checked equal to the view's ({sum(r.checked for r in results.values()):,} comparisons"
        + (
            ", all equal"
            if not any(r.floor_differs or r.legacy_differs for r in results.values())
            else "; see the notes below the goals"
        )
        + ").",
        "",
        "Variants: *view* = `duckdb.connect('metadata.db', read_only=True)`; *neo* = the same views through "
        "`neo.connect()`, which sets "
        + (", ".join(f"`{k} = {v}`" for k, v in sorted(neo_settings.items())) or "nothing")
        + "; *floor* = an in-memory DuckDB whose dataset views are a plain `read_parquet([...])` of exactly "
        "the live files (`neo.lake.manifest.live_files`), neo's derived SQL on top; *one-file* = the live "
        "file(s) holding the answer, read directly (defaults / neo.connect's settings); *native* = the "
        "legacy DuckDB table; *peer* = one file per day, hive-partitioned. The backtest loop: "
        f"{args.loops} timed run(s) after its first month as warm-up, month by month with every variant in "
        "turn; its figure is the sum of its months.",
        "",
        "| shape | state | view | neo | floor | one-file | one-file (neo's settings) | native | peer |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for shape in SHAPES:
        for state, res in results.items():
            m = res.medians[shape]
            one = [ms(m[v]) if v in m else "" for v in ("one_file", "one_file_neo")]
            lines.append(
                f"| {shape if state == next(iter(results)) else ''} | {state} | {ms(m['view'])} | "
                f"{ms(m['view_neo'])} | {ms(m['floor'])} | {one[0]} | {one[1]} | {ms(m['native'])} | "
                f"{ms(m['peer'])} |"
            )
    goals = Goals()
    lines += [
        "",
        f"Goals (issue 21): view / floor <= {GOAL_FLOOR:g}x in every state; through neo.connect() <= "
        f"{GOAL_NEO['b']:g}x native and through duckdb.connect <= {GOAL_PLAIN['b']:g}x native in (b) and "
        f"(c), <= {GOAL_NEO['a']:g}x / {GOAL_PLAIN['a']:g}x in (a); where even the one-file read is slower "
        f"than that, within {GOAL_ONE_FILE:g}x of it (the one-file read with the same connection's "
        "settings); ahead of the peer's layout on every shape.",
        "",
        "| shape | state | view / floor | goal | neo / native | goal | view / native | goal | view / peer "
        "| ahead of peer |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for shape in SHAPES:
        for state, res in results.items():
            m = res.medians[shape]
            vs_floor = m["view"] / m["floor"]
            ok_floor = goals.judge("floor", vs_floor <= GOAL_FLOOR)
            floor_note = " †" if shape in res.floor_differs else ""
            ok_neo, neo_cell = native_goal(m, "view_neo", "one_file_neo", GOAL_NEO[state])
            ok_plain, plain_cell = native_goal(m, "view", "one_file", GOAL_PLAIN[state])
            goals.judge("neo", ok_neo)
            goals.judge("plain", ok_plain)
            ok_peer = goals.judge("peer", m["view"] < m["peer"])
            lines.append(
                f"| {shape if state == next(iter(results)) else ''} | {state} | "
                f"**{vs_floor:.2f}x**{floor_note} | "
                f"{'met' if ok_floor else f'**not met** (<= {GOAL_FLOOR:g}x)'} | "
                f"**{m['view_neo'] / m['native']:.2f}x** | {neo_cell} | **{m['view'] / m['native']:.2f}x** | "
                f"{plain_cell} | {m['view'] / m['peer']:.2f}x | {'yes' if ok_peer else '**no**'} |"
            )
    lines += [
        "",
        "Goals met: "
        + "; ".join(
            f"{label} {goals.met[g]} of {goals.total[g]}"
            for g, label in (
                ("floor", "view / floor"),
                ("neo", "neo.connect against native"),
                ("plain", "duckdb.connect against native"),
                ("peer", "ahead of the peer"),
            )
        )
        + ". Result rows (last round): "
        + "; ".join(f"{s}: {any_state.rows[s]:,}" for s in SHAPES)
        + ". The backtest loop's queries: "
        + ", ".join(f"{st}: {r.loop}" for st, r in results.items())
        + ". Files the one-file reads read (last round): "
        + "; ".join(
            f"{s}: " + ", ".join(f"{r.one_files[s]} in {st}" for st, r in results.items())
            for s in ONE_FILE_SHAPES
        )
        + ".",
    ]
    notes = [(st, r) for st, r in results.items() if r.floor_differs]
    if notes:
        lines += ["", "† The floor's plain read is not the answer where live files hold a key twice: "]
        for st, r in notes:
            doubled = ", ".join(f"{n} {k:,} keys" for n, k in r.doubled.items())
            differ = "; ".join(f"{s}: {why}" for s, why in r.floor_differs.items())
            lines.append(f"- state {st}: the live files hold {doubled} more than once; results: {differ}.")
    legacy = [(st, r) for st, r in results.items() if r.legacy_differs]
    if legacy:
        lines += [
            "",
            "Native and the peer (written from native) lack the rows with a null key column, which "
            "a PRIMARY KEY cannot hold (statement versions without f_ann_date): ",
        ]
        for st, r in legacy:
            nulls = ", ".join(f"{n} {k:,} rows" for n, k in r.null_keys.items())
            differ = "; ".join(f"{s}: {why}" for s, why in r.legacy_differs.items())
            lines.append(f"- state {st}: the lake holds {nulls}; results: {differ}.")
    lines += [
        "",
        "First query on a new connection (open, one point lookup, close, timed as a whole; each in a process "
        "holding no other connection to that file): milliseconds, medians.",
        "",
        "| state | native | floor (in-memory + the `daily` view) | view | neo | view / native | neo / native "
        "| view / floor |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for state, res in results.items():
        f = res.first
        lines.append(
            f"| {state} | {ms(f['native'])} | {ms(f['floor'])} | {ms(f['view'])} | {ms(f['view_neo'])} | "
            f"{f['view'] / f['native']:.2f}x | {f['view_neo'] / f['native']:.2f}x | "
            f"{f['view'] / f['floor']:.2f}x |"
        )
    lines += [
        "",
        "Live files per dataset: "
        + "; ".join(
            f"{st}: " + ", ".join(f"{n} {k}" for n, k in r.files.items()) for st, r in results.items()
        )
        + ".",
        "",
        "| build step | wall time | peak RSS |",
        "|---|---|---|",
    ]
    for step, secs in b.seconds.items():
        rss = bc.mb(b.rss[step]) if step in b.rss else ""
        if step == "simulator start":
            rss += " (the simulator, all it served)"
        calls = f" ({b.calls[step]:,} calls)" if step in b.calls else ""
        lines.append(f"| {step}{calls} | {secs:,.1f} s | {rss} |")
    over = b.rss.get("compact", 0) - limit
    lines += [
        "",
        f"`neo compact`: {b.seconds.get('compact', 0):.1f} s, "
        f"peak RSS {bc.mb(b.rss.get('compact', 0))} against "
        f"compact_memory_limit {b.memory_limit} ({'+' if over >= 0 else ''}{bc.mb(over)}); data files "
        f"on disk {sum(v[0] for v in b.files['a'].values()):,} -> {b.files_after_compact:,} after "
        "compaction -> "
        f"{sum(v[0] for v in b.files['b'].values()):,} after vacuum.",
        "",
        "| bytes on disk (files live or not) | " + " | ".join(STATE_NAMES[s] for s in STATES) + " |",
        "|---|---|---|---|",
    ]
    for name in DATASETS:
        lines.append(
            f"| {name} | "
            + " | ".join(f"{bc.mb(b.files[s][name][1])} ({b.files[s][name][0]:,} files)" for s in STATES)
            + " |"
        )
    totals = [sum(v[1] for v in b.files[s].values()) for s in STATES]
    lines.append("| **lake** | " + " | ".join(f"**{bc.mb(t)}**" for t in totals) + " |")
    lines.append(f"| native .db | {bc.mb(b.sizes['native_a'])} | (a)'s | {bc.mb(b.sizes['native_c'])} |")
    lines.append(f"| peer layout | {bc.mb(b.sizes['peer_a'])} | (a)'s | {bc.mb(b.sizes['peer_c'])} |")
    lake_b = sum(v[1] for v in b.files["b"].values())
    lines += [
        "",
        f"Lake after maintenance / native .db: {lake_b / b.sizes['native_a']:.2f}x "
        f"(goal: smaller than native: {'met' if lake_b < b.sizes['native_a'] else '**not met**'}).",
        "",
        "| machine and run | |",
        "|---|---|",
        f"| CPU | {cpu_model()}, {os.cpu_count()} logical CPUs |",
        f"| RAM | {ram()} |",
        f"| OS | {os_name()}, Linux {platform.release()} ({platform.machine()}) |",
        f"| software | Python {platform.python_version()}, DuckDB {duckdb.__version__}, "
        f"PyArrow {pa.__version__}, neo {neo.__version__} (git {git_commit()}) |",
        f"| states built | {b.built_at}, neo git {b.commit}, code {b.fingerprint}"
        + (" (reused from an earlier run)" if reused else "")
        + " |",
        f"| work directory | `{paths.root}` on {filesystem(paths.root)} |",
        f"| command | {command} |",
        "| load | 1-minute load average "
        + ", ".join(f"{s}: {r.load[0]:.2f}-{r.load[1]:.2f}" for s, r in results.items())
        + f" ({os.cpu_count()} CPUs) |",
        f"| run time | {seconds / 60:.1f} minutes"
        + ("" if reused else f", of which building {sum(b.seconds.values()) / 60:.1f}")
        + "; measuring "
        + ", ".join(f"{s} {t / 60:.1f}" for s, t in measuring.items())
        + " |",
    ]
    if b.fingerprint != code_fingerprint():
        lines += [
            "",
            f"**Warning: src/neo changed since these states were built (code {b.fingerprint}, now "
            f"{code_fingerprint()}); rerun with --rebuild to measure the current code.**",
        ]
    return lines


def command_line(argv: list[str]) -> str:
    python = Path(sys.executable)
    shown = os.path.relpath(python, Path.cwd()) if python.is_relative_to(Path.cwd()) else str(python)
    direct = shlex.join([shown, os.path.relpath(__file__, Path.cwd()), *argv])
    return f"`make bench-query`, which runs `{direct}`" if "MAKELEVEL" in os.environ else f"`{direct}`"


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--stocks", type=int, default=5000, help="stocks in the market (default 5000)")
    ap.add_argument("--years", type=int, default=10, help="calendar years up to --end (default 10)")
    ap.add_argument("--end", default="20241231", help="the market's last calendar day (default 20241231)")
    ap.add_argument("--start", help="first day, YYYYMMDD (default: 1 January of the first of --years years)")
    ap.add_argument("--rounds", type=int, default=5, help="timed rounds (default 5)")
    ap.add_argument("--loops", type=int, default=1, help="timed runs of the backtest loop (default 1)")
    ap.add_argument(
        "--memory-limit", default=DEFAULT_MEMORY, help=f"compact_memory_limit (default {DEFAULT_MEMORY})"
    )
    ap.add_argument("--workdir", type=Path, help="where states are built (default $TMPDIR/neo-bench-query)")
    ap.add_argument("--keep", action="store_true", help="keep the states for later runs of this size")
    ap.add_argument("--rebuild", action="store_true", help="build the states again even if kept ones exist")
    ap.add_argument(
        "--states", default="abc", help="which states to measure, e.g. bc (default abc; all are built)"
    )
    ap.add_argument(
        "--explain",
        action="store_true",
        help="also write EXPLAIN ANALYZE of every shape (view, floor, native) to <workdir>/explain-<size>/",
    )
    argv = sys.argv[1:]
    args = ap.parse_args(argv)
    end = datetime.strptime(args.end, "%Y%m%d").date()
    first = date(end.year - args.years + 1, 1, 1)
    start = datetime.strptime(args.start, "%Y%m%d").date() if args.start else first
    if (
        args.stocks < 10
        or args.rounds < 1
        or args.loops < 1
        or end <= start
        or not set(args.states) <= set(STATES)
    ):
        raise SystemExit(
            "need --stocks >= 10, --rounds and --loops >= 1, --start before --end, --states within abc"
        )
    bc.parse_size(args.memory_limit)
    wanted = Build(stocks=args.stocks, start=ymd(start), end=ymd(end), memory_limit=args.memory_limit)
    workdir = (args.workdir or Path(tempfile.gettempdir()) / "neo-bench-query").resolve()
    key = f"{wanted.stocks}x{wanted.start}-{wanted.end}" + (
        f"-{wanted.memory_limit}" if wanted.memory_limit != DEFAULT_MEMORY else ""
    )
    paths = Paths(workdir / key)
    # neo.connect() in the workers reads settings from the environment: only the data root they set.
    for name in [k for k in os.environ if k.startswith("NEO_") or k == "TUSHARE_TOKEN"]:
        del os.environ[name]
    os.environ["NEO_CONFIG"] = str(workdir / "no-neo.toml")
    started = time.perf_counter()
    reused = False
    try:
        b = wanted
        if paths.build.exists() and not args.rebuild:
            doc = json.loads(paths.build.read_text())
            kept = Build(**{k: v for k, v in doc.items() if k in Build.__dataclass_fields__})
            if kept.complete and kept.same_size(wanted):
                b, reused = kept, True
                say(f"reusing the states built {kept.built_at} in {paths.root}")
        if not reused:
            build(b, paths)
        params = {s: round_params(paths.native[s], args.rounds) for s in STATES}
        ends = {s: month_ends(paths.native[s]) for s in STATES}
        results, profiles, measuring = {}, {}, {}
        for s in STATES:
            if s in args.states:
                say(f"measuring state {STATE_NAMES[s]}")
                t0 = time.perf_counter()
                results[s] = measure(s, paths, params[s], ends[s], args.rounds, args.loops)
                measuring[s] = time.perf_counter() - t0
                if args.explain:
                    profiles[s] = explain(s, paths, params[s][1], ends[s], workdir / f"explain-{key}")
        lines = report(
            b, results, args, command_line(argv), paths, reused, time.perf_counter() - started, measuring
        )
        if profiles:
            lines += explain_lines(profiles, workdir / f"explain-{key}")
    finally:
        if not args.keep:
            shutil.rmtree(paths.root, ignore_errors=True)
    print("\n".join(lines))
    default = (args.stocks, args.years, args.end, args.start, args.memory_limit) == (
        5000,
        10,
        "20241231",
        None,
        DEFAULT_MEMORY,
    )
    save("query" if default else f"query-{args.stocks}x{wanted.start}-{wanted.end}", lines)


if __name__ == "__main__":
    main()
