"""The lake write path against what it replaces, on the same batches, in one run.

Batches: `--days` whole-market daily batches of `--stocks` rows (default 250 x 5,000), typed as the
client returns them. Paths, each timed per batch (median) and as total throughput:
  - bare:    pyarrow.parquet.write_table(batch, path, compression="zstd"), nothing else;
  - lake:    ParquetWriter.write (cast to the declared schema, sort by key, year partition, temp
             name + rename), with fsync (the default) and without;
  - lake+processor: SimpleDataProcessor.process then ParquetWriter.write (what the slow queue does);
  - legacy:  INSERT ... ON CONFLICT DO UPDATE into a DuckDB table with a primary key, one batch at a
             time (the DBOperator.upsert it replaces), optionally on top of `--prefill` days of history.
Then: the lake path with 2 writer processes against 1 (a DuckDB file admits one writing process),
and query times through metadata.db's views against the same query on a native DuckDB table.

Usage: python bench/bench_lake.py [--days 250] [--stocks 5000] [--prefill 0] [--rounds 5]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import _support  # noqa: F401  (tests/support on the import path)
import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from _results import save
from tests.support.legacy_writer import create_table, upsert

from neo.core.config import load_settings
from neo.datasets import get
from neo.lake.catalog import sync
from neo.lake.writer import ParquetWriter, dictionary_columns
from neo.pipeline.processor import SimpleDataProcessor

SPEC = get("daily")
LAKE_DEFAULT = "lake write path, fsync=on"
FLOATS = ["open", "high", "low", "close", "pre_close", "change", "pct_chg", "vol", "amount"]


def trading_days(n: int, first: date = date(2015, 1, 5)) -> list[date]:
    days, d = [], first
    while len(days) < n:
        if d.weekday() < 5:
            days.append(d)
        d += timedelta(days=1)
    return days


def make_batch(day: date, stocks: int, seed: int) -> pa.Table:
    rng = np.random.default_rng((seed, day.toordinal()))
    close = np.round(rng.uniform(3, 80, stocks), 2)
    cols = {c: np.round(close * rng.uniform(0.95, 1.05, stocks), 2) for c in FLOATS}
    cols["close"] = close
    codes = pa.array([f"{i:06d}.{'SH' if i % 2 else 'SZ'}" for i in range(stocks)])
    return pa.table(
        {
            "ts_code": codes,
            "trade_date": pa.array([day] * stocks, pa.date32()),
            **{c: cols[c] for c in FLOATS},
        }
    )


WriteFn = Callable[[int, pa.Table], None]  # writes batch number i


def lake_path(
    rejected: Path, fetched: datetime, *, fsync: bool, processor: bool = False
) -> Callable[[Path], WriteFn]:
    """neo's write path into the lake at the given directory (optionally after the processor)."""
    proc = SimpleDataProcessor()

    def make(lake: Path) -> WriteFn:
        w = ParquetWriter(lake, rejected, fsync=fsync)

        def write(_: int, b: pa.Table) -> None:
            b = proc.process(b, SPEC)[0] if processor else b
            w.write(b, SPEC, batch_id=uuid.uuid4().hex, fetched_at=fetched)

        return write

    return make


def bare_path(encoding: bool) -> Callable[[Path], WriteFn]:
    """A bare pq.write_table per batch into a new directory (with the lake's encoding options or not)."""

    def make(d: Path) -> WriteFn:
        d.mkdir(parents=True)
        opts = {"use_dictionary": dictionary_columns(SPEC.schema)} if encoding else {}
        return lambda i, b: pq.write_table(b, str(d / f"{i}.parquet"), compression="zstd", **opts)

    return make


def timed(fn: WriteFn, batches: list[pa.Table]) -> tuple[float, float]:
    """(median seconds per batch, total seconds)."""
    times = []
    started = time.perf_counter()
    for i, b in enumerate(batches):
        t = time.perf_counter()
        fn(i, b)
        times.append(time.perf_counter() - t)
    return statistics.median(times), time.perf_counter() - started


def legacy_upsert(db: Path, batches: list[pa.Table], prefill: list[pa.Table]) -> tuple[float, float]:
    con = duckdb.connect(str(db))
    create_table(con, SPEC)
    for b in prefill:  # history already in the table, not timed
        upsert(con, SPEC, b)
    result = timed(lambda _, b: upsert(con, SPEC, b), batches)
    con.close()
    return result


def _worker(lake: str, days: list[date], stocks: int, fsync: bool, start, done) -> None:
    batches = [make_batch(d, stocks, 1) for d in days]
    writer = ParquetWriter(Path(lake), Path(lake) / "rejected", fsync=fsync)
    start.wait()
    for b in batches:
        writer.write(b, SPEC, batch_id=uuid.uuid4().hex, fetched_at=datetime.now(UTC))
    done.put(time.perf_counter())


def parallel(lake: Path, days: list[date], stocks: int, workers: int, fsync: bool) -> float:
    """Seconds for `workers` processes to write all days between them (generation not timed)."""
    ctx = mp.get_context("fork")
    start, done = ctx.Barrier(workers + 1), ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(str(lake), days[i::workers], stocks, fsync, start, done))
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    start.wait()
    t0 = time.perf_counter()
    ends = [done.get() for _ in procs]
    for p in procs:
        p.join()
    return max(ends) - t0


def second_writer_blocked(db: Path) -> str:
    holder = duckdb.connect(str(db))
    try:
        ctx = mp.get_context("spawn")
        with ctx.Pool(1) as pool:
            return pool.apply(_try_open, (str(db),))
    finally:
        holder.close()


def _try_open(path: str) -> str:
    try:
        duckdb.connect(path).close()
        return "opened (unexpected)"
    except duckdb.Error as exc:
        return str(exc).splitlines()[0][:110]


def query_times(
    meta: Path, native: Path, raw_glob: str, rounds: int, code: str, day: date
) -> list[tuple[str, float, float, float]]:
    queries = {
        "one stock's history": f"SELECT count(*), avg(close) FROM daily WHERE ts_code = '{code}'",
        "one day's cross-section": f"SELECT count(*), avg(close) FROM daily WHERE trade_date = DATE '{day}'",
        "full-table aggregate": "SELECT count(*), avg(close), max(vol) FROM daily",
    }
    out = []
    lake_con = duckdb.connect(str(meta), read_only=True)
    native_con = duckdb.connect(str(native), read_only=True)
    raw_con = duckdb.connect()  # the same files without the latest-wins dedup: what small files cost
    raw_con.execute(
        f"CREATE VIEW daily AS SELECT * FROM read_parquet('{raw_glob}', hive_partitioning = false)"
    )
    for name, sql in queries.items():
        a = lake_con.sql(sql).fetchall()
        b = native_con.sql(sql).fetchall()
        assert a[0][0] == b[0][0], (name, a, b)
        med = []
        for con in (lake_con, raw_con, native_con):
            ts = []
            for _ in range(rounds):
                t = time.perf_counter()
                con.sql(sql).fetchall()
                ts.append(time.perf_counter() - t)
            med.append(statistics.median(ts))
        out.append((name, med[0], med[1], med[2]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=250)
    ap.add_argument("--stocks", type=int, default=5000)
    ap.add_argument("--prefill", type=int, default=0, help="days of history in the legacy table first")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="neo-bench-lake-"))
    days = trading_days(args.prefill + args.days)
    prefill = [make_batch(d, args.stocks, 0) for d in days[: args.prefill]]
    batches = [make_batch(d, args.stocks, 1) for d in days[args.prefill :]]
    rows = sum(b.num_rows for b in batches)
    print(f"{len(batches)} batches x {args.stocks} rows in {root}", flush=True)
    results: dict[str, tuple[float, float]] = {}
    try:
        fetched = datetime.now(UTC)
        legacy_name = f"legacy upsert (table of {len(prefill) * args.stocks:,} rows first)"

        rejected = root / "rejected"
        paths = {
            "bare pq.write_table": bare_path(False),
            "bare pq.write_table, the lake's encoding options": bare_path(True),
            "lake write path, fsync=on": lake_path(rejected, fetched, fsync=True),
            "lake write path, fsync=off": lake_path(rejected, fetched, fsync=False),
            "processor + lake write path, fsync=on": lake_path(rejected, fetched, fsync=True, processor=True),
        }
        # Rounds interleave the paths, so drift on a noisy machine hits all of them alike.
        per_batch: dict[str, list[float]] = {n: [] for n in [*paths, legacy_name]}
        totals: dict[str, list[float]] = {n: [] for n in per_batch}
        for r in range(args.rounds):
            for i, (name, make) in enumerate(paths.items()):
                d = root / f"w{i}-{r}"
                med, total = timed(make(d), batches)
                per_batch[name].append(med)
                totals[name].append(total)
                if not (name == LAKE_DEFAULT and r == args.rounds - 1):
                    shutil.rmtree(d)
            legacy_db = root / f"legacy-{r}.db"
            med, total = legacy_upsert(legacy_db, batches, prefill)
            per_batch[legacy_name].append(med)
            totals[legacy_name].append(total)
            if r < args.rounds - 1:
                legacy_db.unlink()
            print(
                f"round {r + 1}: " + ", ".join(f"{n.split(' (')[0]} {totals[n][-1]:.2f}s" for n in totals),
                flush=True,
            )
        results = {n: (statistics.median(per_batch[n]), statistics.median(totals[n])) for n in per_batch}
        lake_dir = root / f"w{list(paths).index(LAKE_DEFAULT)}-{args.rounds - 1}"
        for name, (med, total) in results.items():
            print(f"{name}: {med * 1000:.2f} ms/batch, {rows / total:,.0f} rows/s", flush=True)

        scale: dict[tuple[bool, int], float] = {}
        for fsync in (True, False):
            for workers in (1, 2):
                runs = []
                for r in range(args.rounds):
                    lake = root / f"par-{workers}-{r}"
                    runs.append(parallel(lake, days[args.prefill :], args.stocks, workers, fsync))
                    shutil.rmtree(lake)
                scale[fsync, workers] = statistics.median(runs)
                print(
                    f"fsync={fsync}, {workers} writer(s): {rows / scale[fsync, workers]:,.0f} rows/s",
                    flush=True,
                )
        blocked = second_writer_blocked(legacy_db)

        settings = load_settings(home=root / "qhome")
        shutil.copytree(lake_dir, settings.lake_dir)
        sync(settings)
        raw = str(settings.lake_dir.resolve() / "daily" / "**" / "*.parquet")
        qt = query_times(settings.metadata_db, legacy_db, raw, args.rounds, "000123.SH", days[-1])
    finally:
        shutil.rmtree(root, ignore_errors=True)

    bare_total = results["bare pq.write_table"][1]
    lines = [
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"DuckDB {duckdb.__version__}, pyarrow {pa.__version__}; "
        f"{len(batches)} batches x {args.stocks:,} rows; {args.rounds} interleaved rounds, medians",
        "",
        "| write path | ms per batch | rows/s | throughput vs bare write |",
        "|---|---|---|---|",
    ]
    for name, (med, total) in results.items():
        lines.append(f"| {name} | {med * 1000:.2f} | {rows / total:,.0f} | {bare_total / total:.2f}x |")
    lines += [
        "",
        "| lake writers | fsync on: rows/s | speed-up | fsync off: rows/s | speed-up |",
        "|---|---|---|---|---|",
        *(
            f"| {n} process{'es' if n > 1 else ''} | {rows / scale[True, n]:,.0f} | "
            f"{scale[True, 1] / scale[True, n]:.2f}x | {rows / scale[False, n]:,.0f} | "
            f"{scale[False, 1] / scale[False, n]:.2f}x |"
            for n in (1, 2)
        ),
        "",
        f"A second process opening the legacy DuckDB file for writing: `{blocked}`.",
        "",
        "| query (one file per day) | view (latest wins) | same files, no dedup | native | view/native |",
        "|---|---|---|---|---|",
    ]
    for name, lake_t, raw_t, native_t in qt:
        lines.append(
            f"| {name} | {lake_t * 1000:.1f} ms | {raw_t * 1000:.1f} ms | {native_t * 1000:.1f} ms "
            f"| {lake_t / native_t:.1f}x |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    save("lake", text.splitlines())


if __name__ == "__main__":
    main()
