"""The analysts' workload: metadata.db's views against the legacy native DuckDB table and the peer's layout.

Goal (issue 12): metadata.db answers analysts' queries about as fast as the legacy native DuckDB
table. This benchmark measures whatever neo's current code produces: every lake state is built by
neo's real commands in their own processes, never by reimplementing them.

Data: `neo sim serve` (its own process) with `--stocks` stocks from 1 January of the first of
`--years` years to `--end`; D is the simulated market's last trading day on or before `--end`.
Datasets: daily, adj_factor, daily_basic (one call per trading day each) and income (one income_vip
call per report period). Quotas are off (NEO_DEFAULT_QUOTA=0, NEO_QUOTAS__stock_basic=0), every
other setting at neo's default (fsync on, compact_memory_limit, ...).

States, each its own data root (NEO_HOME):
  (a) after a full-history download: `neo download daily adj_factor daily_basic income --end D-1`,
      whatever it leaves on disk (one fresh file per day and dataset, as neo writes today);
  (b) after maintenance: a copy of (a) (Parquet files hard-linked, bench_compact.link_copy), then
      `neo compact` and `neo vacuum --older-than 0s`; wall time and peak RSS of `neo compact` come
      from wait4 (bench_compact.run_child);
  (c) a daily user's steady state: a copy of (b), then `neo download ... --end D`: one more day, plus
      what a daily run re-pulls (the recent report periods and the calendar: NEO_REFRESH_HOURS=0,
      as for a user whose last run was a day ago).

Anchors, built from the lake's own rows (the views of state (a); for (c), what (c)'s download added):
  native: one DuckDB .db per state as the legacy DBOperator.upsert built it: legacy_writer.create_table
      (declared columns, PRIMARY KEY = DatasetSpec.key; statements keep every version) filled in day
      order (ORDER BY date, key); for (c) a copy of (a)'s file, then legacy_writer.upsert of the rows of
      the files (c)'s download wrote. daily_qfq, daily_hfq and income_latest are views with exactly
      neo's SQL (neo.lake.catalog.adjusted_view, latest_view).
  peer: the layout of the best open peer (JY0284/stock-data): one Parquet file per trading day in
      hive partitions `<dataset>/year=YYYY/month=MM/trade_date=YYYYMMDD.parquet` (statements:
      `income/year=YYYY/quarter=Q/end_date=YYYYMMDD.parquet`), written with pyarrow's defaults
      (snappy, as pandas.to_parquet does; declared types, so the SQL stays the same), read by views
      `read_parquet('<dataset>/*/*/*.parquet', hive_partitioning = true)` in a DuckDB file, with the
      same derived views (neo's SQL) on top. (b) uses (a)'s peer files: the peer has no maintenance.

Queries, SQL as an analyst writes it against view names (SHAPES below): one stock's qfq history;
one day's cross-section of daily joined with daily_basic; a month's qfq panel (all stocks); 20-day
momentum on hfq over a year (window function); count/sum/avg of daily by year; one day's
cross-section with each stock's latest income statement known that day (f_ann_date <= the day);
one (ts_code, trade_date) lookup in daily. Each variant is
opened the way an analyst opens it: `duckdb.connect(<file>, read_only=True)`, one connection per
variant and state, kept open for all its queries (warm: an analyst runs many queries on one
connection, and DuckDB caches file metadata and data per connection/database instance). One untimed
warm-up run per shape and variant, then `--rounds` rounds; each round runs every shape on lake,
native and peer one after the other (interleaved), with the stock/day/month/year of that round
(deterministic, different per round). Times include fetching the whole result as Arrow; medians.
Every run's result (warm-up and timed rounds) is compared across lake, native and peer: sorted by
every column, text/dates/integers equal, floats within a relative 1e-9 (sums may differ in the last
bits); any difference stops the benchmark.

States are built in `--workdir` (default $TMPDIR/neo-bench-query) under a directory named by the
size. With `--keep`, they stay and a later run with the same size reuses them; `--rebuild` builds
again. A change of neo's code (writer, compaction, views, ...) needs `--rebuild`: the states are what
the code of their build produced (the report warns when src/neo changed since the build).

Usage: python bench/bench_query.py [--stocks 5000] [--years 10] [--end 20241231] [--rounds 5]
           [--workdir DIR] [--keep] [--rebuild] [--memory-limit 1GB] [--explain]
Quick size for development: --stocks 300 --years 2 (about a minute).
Default size on the 2-core project machine: about 20 minutes, of which 12 building (simulator start
2 minutes and 8.7 GB RSS, download 4, compact 1, native load 1.5, peer files 4) and 8 measuring;
with --keep, later runs of the same size take the 8. --explain adds about 3 minutes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import _support  # noqa: F401  (tests/support on the import path)
import bench_compact as bc
import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from _results import save
from suite import cpu_model, filesystem, git_commit, os_name, ram, version
from tests.support.legacy_writer import create_table, upsert
from tests.support.processes import neo_command, spawn

from neo.core.config import Settings
from neo.datasets import DatasetSpec, get
from neo.lake.catalog import adjusted_view, latest_view, lit, q
from neo.lake.engine import profile_totals, profiled_operators
from neo.sim import calendar

REPO = Path(__file__).resolve().parent.parent
MARKET = ("daily", "adj_factor", "daily_basic")
STATEMENTS = ("income",)
DATASETS = (*MARKET, *STATEMENTS)
DERIVED = {"daily_hfq": adjusted_view("hfq"), "daily_qfq": adjusted_view("qfq")}
DERIVED |= {f"{s}_latest": latest_view(get(s)) for s in STATEMENTS}
STATES = ("a", "b", "c")
STATE_NAMES = {
    "a": "(a) after the full-history download",
    "b": "(b) after compact + vacuum",
    "c": "(c) (b) + one daily download",
}
GOAL_NATIVE = {"a": 3.0, "b": 1.5, "c": 1.5}  # lake / native at most
DEFAULT_MEMORY = Settings.model_fields["compact_memory_limit"].default
BUILD_VERSION = 1  # bump when this file builds its states differently

# The shapes: SQL as an analyst writes it, against view names. {code}, {day}, {m0}, {m1}, {y0}, {y1}
# come from the round's parameters.
SHAPES = {
    "one stock's qfq history": "SELECT * FROM daily_qfq WHERE ts_code = '{code}' ORDER BY trade_date",
    "day's cross-section, daily + daily_basic": (
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
    "point lookup (ts_code, trade_date)": (
        "SELECT * FROM daily WHERE ts_code = '{code}' AND trade_date = DATE '{day}'"
    ),
}
VARIANTS = ("lake", "native", "peer")


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
    sim_rss: int = 0
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
    """Per dataset: [data files, bytes] of the Parquet files under the data root (placeholders,
    zero-row files that keep globs matching, count in bytes only)."""
    out = {}
    for name in DATASETS:
        files = bc.parquet_files(home / "parquet" / name)
        data = [p for p in files if pq.read_metadata(p).num_rows > 0]
        out[name] = [len(data), bc.disk_bytes(files)]
    return out


def build(b: Build, paths: Paths) -> None:
    shutil.rmtree(paths.root, ignore_errors=True)
    paths.logs.mkdir(parents=True)
    end = datetime.strptime(b.end, "%Y%m%d").date()
    d = calendar.prev_open_day(end + timedelta(days=1))
    b.day, b.prev = ymd(d), ymd(calendar.prev_open_day(d))
    b.fingerprint, b.commit = code_fingerprint(), git_commit()
    b.built_at = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    neo = neo_command()
    say(f"simulator: {b.stocks:,} stocks, {b.start}-{b.end} (D = {b.day})")
    t0 = time.perf_counter()
    proc, url = spawn("--stocks", str(b.stocks), "--start", b.start, "--end", b.end, timeout=1800)
    b.seconds["simulator start"] = time.perf_counter() - t0
    say(f"  listening after {b.seconds['simulator start']:.1f} s, RSS {bc.mb(vm_hwm(proc.pid))}")
    try:
        env = download_env(paths.root, paths.homes["a"], url, b.start)
        run_step(b, "download a", [*neo, "download", *DATASETS, "--end", b.prev], env, paths)
        b.files["a"] = lake_files(paths.homes["a"])

        say("(b): hard-linked copy of (a), compact, vacuum")
        bc.link_copy(paths.homes["a"], paths.homes["b"])
        env = base_env(paths.root) | {"NEO_HOME": str(paths.homes["b"])}
        if b.memory_limit != DEFAULT_MEMORY:
            env["NEO_COMPACT_MEMORY_LIMIT"] = b.memory_limit
        compact = run_step(b, "compact", [*neo, "compact"], env, paths)
        b.compact_code, b.compact_tail = compact.code, compact.tail
        if compact.code != 0:
            raise SystemExit(f"neo compact failed (exit {compact.code}): {compact.tail}")
        b.files_after_compact = sum(v[0] for v in lake_files(paths.homes["b"]).values())
        run_step(b, "vacuum", [*neo, "vacuum", "--older-than", "0s"], env, paths)
        b.files["b"] = lake_files(paths.homes["b"])

        say("(c): hard-linked copy of (b), download of day D")
        bc.link_copy(paths.homes["b"], paths.homes["c"])
        env = download_env(paths.root, paths.homes["c"], url, b.start) | {"NEO_REFRESH_HOURS": "0"}
        run_step(b, "download c", [*neo, "download", *DATASETS, "--end", b.day], env, paths)
        b.files["c"] = lake_files(paths.homes["c"])
        b.sim_rss = vm_hwm(proc.pid)
    finally:
        proc.terminate()
        proc.wait()

    say("native tables (legacy layout) from (a)'s views")
    t0 = time.perf_counter()
    b.rows["a"] = load_native(paths.native["a"], paths.metadata_db("a"))
    b.seconds["native a"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    b.rows["c"] = update_native(paths.native["a"], paths.native["c"], paths.homes["b"], paths.homes["c"])
    b.seconds["native c"] = time.perf_counter() - t0
    say(f"  native: {b.seconds['native a']:.1f} s + {b.seconds['native c']:.1f} s; rows {b.rows['c']}")

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


def declared(spec: DatasetSpec) -> str:
    return ", ".join(q(f.name) for f in spec.fields)


def day_order(spec: DatasetSpec) -> str:
    """The order a day-by-day (period-by-period) legacy upsert leaves the rows in."""
    assert spec.date_column is not None
    return ", ".join(q(c) for c in dict.fromkeys([spec.date_column, *spec.key]))


def create_derived(con: duckdb.DuckDBPyConnection) -> None:
    for name, sql in DERIVED.items():
        con.execute(f"CREATE OR REPLACE VIEW {q(name)} AS {sql}")


def load_native(db: Path, metadata_db: Path) -> dict[str, int]:
    """The legacy tables: PRIMARY KEY, rows in day order, from the lake's views."""
    db.unlink(missing_ok=True)
    con = duckdb.connect(str(db))
    try:
        con.execute(f"ATTACH {lit(str(metadata_db))} AS lake (READ_ONLY)")
        for name in DATASETS:
            spec = get(name)
            create_table(con, spec)
            con.execute(
                f"INSERT INTO {q(name)} SELECT {declared(spec)} FROM lake.{q(name)} "
                f"ORDER BY {day_order(spec)}"
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
                f"ORDER BY {day_order(spec)}"
            ).to_arrow_table()
            if batch.num_rows:
                upsert(con, spec, batch)
        con.execute("CHECKPOINT")
        return {n: con.sql(f"SELECT count(*) FROM {q(n)}").fetchall()[0][0] for n in DATASETS}
    finally:
        con.close()


def write_peer(native: Path, out: Path, link_from: Path | None = None, after: str | None = None) -> None:
    """The peer's layout from the native tables: one file per trading day (per report period for
    statements) in year=/month= (year=/quarter=) partitions, pyarrow defaults; with `link_from`,
    market files up to `after` are hard links to that layout's (unchanged days) and statements are
    written again whole (the peer overwrites a re-pulled period's file)."""
    shutil.rmtree(out, ignore_errors=True)
    con = duckdb.connect(str(native), read_only=True)
    try:
        for name in MARKET:
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
                    "ORDER BY trade_date, ts_code",
                    params=[lo, hi],
                ).to_arrow_table()
                write_parts(table, "trade_date", out / name, lambda d: f"year={d:%Y}/month={d:%m}")
        for name in STATEMENTS:
            spec = get(name)
            sql = f"SELECT {declared(spec)} FROM {q(name)} ORDER BY {day_order(spec)}"
            table = con.sql(sql).to_arrow_table()
            write_parts(table, "end_date", out / name, quarter_partition)
    finally:
        con.close()
    peer_views(out)


def quarter_partition(d: date) -> str:
    return f"year={d:%Y}/quarter={(d.month - 1) // 3 + 1}"


def write_parts(table: pa.Table, column: str, root: Path, partition: Callable[[date], str]) -> None:
    """One file per value of `column` (the table is sorted by it)."""
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
            glob = lit(str(out.resolve() / name / "*" / "*" / "*.parquet"))
            con.execute(
                f"CREATE VIEW {q(name)} AS SELECT {declared(get(name))} "
                f"FROM read_parquet({glob}, hive_partitioning = true)"
            )
        create_derived(con)
    finally:
        con.close()


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


@dataclass
class StateResult:
    medians: dict[str, dict[str, float]]  # shape -> variant -> seconds
    rows: dict[str, int]  # shape -> result rows (last round)
    load: tuple[float, float]
    checked: int  # result comparisons done


def measure(state: str, paths: Paths, params: list[Params], rounds: int) -> StateResult:
    cons = {
        "lake": duckdb.connect(str(paths.metadata_db(state)), read_only=True),
        "native": duckdb.connect(str(paths.native[state]), read_only=True),
        "peer": duckdb.connect(str(paths.peer_db(state)), read_only=True),
    }
    times: dict[str, dict[str, list[float]]] = {s: {v: [] for v in VARIANTS} for s in SHAPES}
    rows: dict[str, int] = {}
    checked = 0
    load0 = os.getloadavg()[0]
    try:
        for r in range(rounds + 1):
            for shape, template in SHAPES.items():
                sql = params[r].sql(template)
                results = {}
                for v, con in cons.items():
                    started = time.perf_counter()
                    results[v] = con.sql(sql).to_arrow_table()
                    elapsed = time.perf_counter() - started
                    if r:
                        times[shape][v].append(elapsed)
                for v in ("native", "peer"):
                    why = differs(results["lake"], results[v])
                    if why:
                        where = f"state {state}, {shape}, round {r}"
                        raise SystemExit(f"{where}: lake and {v} differ: {why}\n{sql}")
                    checked += 1
                rows[shape] = results["lake"].num_rows
            say(f"  state {state}: {'warm-up' if r == 0 else f'round {r}/{rounds}'} done")
    finally:
        for con in cons.values():
            con.close()
    medians = {s: {v: statistics.median(t) for v, t in vt.items()} for s, vt in times.items()}
    return StateResult(medians, rows, (load0, os.getloadavg()[0]), checked)


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


def explain(state: str, paths: Paths, p: Params, out: Path) -> dict[str, dict[str, Profile]]:
    """EXPLAIN ANALYZE of every shape on the lake and, for reference, native (warm connections, the
    first timed round's parameters): a summary per shape, and every plan as text under `out`."""
    out.mkdir(parents=True, exist_ok=True)
    found: dict[str, dict[str, Profile]] = {shape: {} for shape in SHAPES}
    for variant, db in (("lake", paths.metadata_db(state)), ("native", paths.native[state])):
        con = duckdb.connect(str(db), read_only=True)
        try:
            for i, (shape, template) in enumerate(SHAPES.items()):
                sql = p.sql(template)
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
        "Where the lake's time goes: `EXPLAIN (ANALYZE, FORMAT JSON)` of each shape (round 1's parameters, "
        "warm connection): the profiler's latency, Parquet files opened, and the three costliest operators "
        "(operator time summed over threads, output rows); native: latency and rows of the row groups its "
        f"scans read. Plans as text: `{where}`.",
        "",
        "| shape | state | lake latency | lake files opened | lake's costliest operators "
        "| native latency | native rows read |",
        "|---|---|---|---|---|---|---|",
    ]
    for shape in SHAPES:
        for i, (state, by_shape) in enumerate(profiles.items()):
            lake, native = by_shape[shape]["lake"], by_shape[shape]["native"]
            top = "; ".join(f"{n} {t * 1000:,.0f} ms ({rows:,})" for n, t, rows in lake.top)
            lines.append(
                f"| {shape if i == 0 else ''} | {state} | {lake.latency * 1000:,.1f} ms | {lake.files:,} | "
                f"{top} | {native.latency * 1000:,.1f} ms | {native.rows_scanned:,} |"
            )
    return lines


# --- the report ------------------------------------------------------------------------------------


def report(
    b: Build,
    results: dict[str, StateResult],
    args: argparse.Namespace,
    command: str,
    paths: Paths,
    reused: bool,
    seconds: float,
) -> list[str]:
    limit = bc.parse_size(b.memory_limit)
    years = int(b.end[:4]) - int(b.start[:4]) + 1
    rows_a, rows_c = b.rows["a"], b.rows["c"]
    lines = [
        "## Analysts' queries: metadata.db against the native DuckDB table and the peer's layout",
        "",
        f"Data: the simulator's market, {b.stocks:,} stocks, {b.start}-{b.end} ({years} years), D = {b.day}: "
        + ", ".join(f"{n} {rows_a[n]:,} rows" for n in DATASETS)
        + f" in (a); (c) adds day D ({rows_c['daily'] - rows_a['daily']:,} daily rows) and the re-pulled "
        "report periods. Built with `neo download` (quotas off), `neo compact`, `neo vacuum --older-than 0s` "
        "(bench/bench_query.py's docstring has the method). Timings: milliseconds, median of "
        f"{args.rounds} interleaved rounds after one untimed warm-up, each variant on one warm read-only "
        "connection (`duckdb.connect(file, read_only=True)`), result fetched as Arrow; every run's result "
        "is checked equal across the three variants "
        f"({sum(r.checked for r in results.values()):,} comparisons, all equal).",
        "",
        "Goals: lake / native <= 3x in state (a), <= 1.5x in (b) and (c); lake faster than the peer's layout "
        "on every shape.",
        "",
        "| shape | state | lake ms | native ms | peer ms | lake / native | goal | lake / peer "
        "| ahead of peer |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    met_native = met_peer = total = 0
    for shape in SHAPES:
        for state in results:
            m = results[state].medians[shape]
            ratio, vs_peer = m["lake"] / m["native"], m["lake"] / m["peer"]
            ok_native, ok_peer = ratio <= GOAL_NATIVE[state], vs_peer < 1.0
            met_native += ok_native
            met_peer += ok_peer
            total += 1
            lines.append(
                f"| {shape if state == next(iter(results)) else ''} | {state} | {ms(m['lake'])} | "
                f"{ms(m['native'])} | {ms(m['peer'])} | **{ratio:.2f}x** | "
                f"{'met' if ok_native else f'**not met** (<= {GOAL_NATIVE[state]:g}x)'} | {vs_peer:.2f}x | "
                f"{'yes' if ok_peer else '**no**'} |"
            )
    lines += [
        "",
        f"Goals met: within the native goal {met_native} of {total}; "
        f"ahead of the peer {met_peer} of {total}. "
        "Result rows (last round): "
        + "; ".join(f"{s}: {next(iter(results.values())).rows[s]:,}" for s in SHAPES)
        + ".",
        "",
        "| build step | wall time | peak RSS |",
        "|---|---|---|",
    ]
    for step, secs in b.seconds.items():
        rss = bc.mb(b.rss[step]) if step in b.rss else ""
        if step == "simulator start":
            rss = f"{bc.mb(b.sim_rss)} (simulator, whole run)"
        lines.append(f"| {step} | {secs:,.1f} s | {rss} |")
    over = b.rss.get("compact", 0) - limit
    lines += [
        "",
        f"`neo compact`: {b.seconds.get('compact', 0):.1f} s, "
        f"peak RSS {bc.mb(b.rss.get('compact', 0))} against "
        f"compact_memory_limit {b.memory_limit} ({'+' if over >= 0 else ''}{bc.mb(over)}); data files "
        f"{sum(v[0] for v in b.files['a'].values()):,} -> {b.files_after_compact:,} after compaction -> "
        f"{sum(v[0] for v in b.files['b'].values()):,} after vacuum.",
        "",
        "| bytes on disk | " + " | ".join(DATASETS) + " | total |",
        "|---|" + "---|" * (len(DATASETS) + 1),
    ]
    for s in STATES:
        f = b.files[s]
        lines.append(
            f"| lake {STATE_NAMES[s]} | "
            + " | ".join(f"{bc.mb(f[n][1])} ({f[n][0]:,} files)" for n in DATASETS)
            + f" | **{bc.mb(sum(v[1] for v in f.values()))}** |"
        )
    for s in ("a", "c"):
        lines.append(f"| native .db for ({s}) | | | | | **{bc.mb(b.sizes[f'native_{s}'])}** |")
        lines.append(f"| peer layout for ({s}) | | | | | **{bc.mb(b.sizes[f'peer_{s}'])}** |")
    lake_b = sum(v[1] for v in b.files["b"].values())
    lines += [
        "",
        f"Lake after maintenance / native .db: {lake_b / b.sizes['native_a']:.2f}x "
        "(goal: smaller than native).",
        "",
        "| machine and run | |",
        "|---|---|",
        f"| CPU | {cpu_model()}, {os.cpu_count()} logical CPUs |",
        f"| RAM | {ram()} |",
        f"| OS | {os_name()}, Linux {platform.release()} ({platform.machine()}) |",
        f"| software | Python {platform.python_version()}, DuckDB {duckdb.__version__}, "
        f"PyArrow {pa.__version__}, "
        f"neo {version('neo')} (git {git_commit()}) |",
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
        help="also write EXPLAIN ANALYZE of every shape (lake, native) to <workdir>/explain-<size>/",
    )
    argv = sys.argv[1:]
    args = ap.parse_args(argv)
    end = datetime.strptime(args.end, "%Y%m%d").date()
    first = date(end.year - args.years + 1, 1, 1)
    start = datetime.strptime(args.start, "%Y%m%d").date() if args.start else first
    if args.stocks < 10 or args.rounds < 1 or end <= start or not set(args.states) <= set(STATES):
        raise SystemExit("need --stocks >= 10, --rounds >= 1, --start before --end, --states within abc")
    bc.parse_size(args.memory_limit)
    wanted = Build(stocks=args.stocks, start=ymd(start), end=ymd(end), memory_limit=args.memory_limit)
    workdir = (args.workdir or Path(tempfile.gettempdir()) / "neo-bench-query").resolve()
    key = f"{wanted.stocks}x{wanted.start}-{wanted.end}" + (
        f"-{wanted.memory_limit}" if wanted.memory_limit != DEFAULT_MEMORY else ""
    )
    paths = Paths(workdir / key)
    os.environ["NEO_CONFIG"] = str(workdir / "no-neo.toml")
    started = time.perf_counter()
    reused = False
    try:
        b = wanted
        if paths.build.exists() and not args.rebuild:
            kept = Build(**json.loads(paths.build.read_text()))
            if kept.complete and kept.same_size(wanted):
                b, reused = kept, True
                say(f"reusing the states built {kept.built_at} in {paths.root}")
        if not reused:
            build(b, paths)
        params = {s: round_params(paths.native[s], args.rounds) for s in STATES}
        results, profiles = {}, {}
        for s in STATES:
            if s in args.states:
                say(f"measuring state {STATE_NAMES[s]}")
                results[s] = measure(s, paths, params[s], args.rounds)
                if args.explain:
                    profiles[s] = explain(s, paths, params[s][1], workdir / f"explain-{key}")
        lines = report(b, results, args, command_line(argv), paths, reused, time.perf_counter() - started)
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
