"""Levers for the floor itself: neo's compacted files' rows in other layouts, other DuckDB settings.

The floor (bench_query.py) is DuckDB reading exactly the live files of a dataset. This measures what
moves that floor toward the native DuckDB table: how the files are written (row-group size, files
per partition, sort order, page index, bloom filters) and how the connection is set up (Parquet
footer cache, external file cache, threads). Research, not a goal check: it changes nothing in neo.

Input: a state directory built by bench_query.py with --keep (its data root `b/`, state (b) after
compact + vacuum, and `native_a.db`, the native table holding the same rows). Datasets daily and
daily_basic: the live files neo's manifest lists (`neo.lake.manifest.live_files`), rewritten with
DuckDB COPY (every column, `_fetched_at` included, LZ4 as neo writes) into `--scratch`:
  neo                 the live files as they are (compaction's order: month, then key; 64k-row groups;
                      one file per year at this size; DuckDB's bloom filters, no page index)
  rg 16k / 32k / 122,880 / 1M   neo's order, other row-group sizes, one file per year
  files: one per month  neo's order and row groups, twelve files per year
  files: one in all   neo's order and row groups, every year in one file
  order: day          (trade_date, ts_code), as native's insertion order; 64k groups
  order: stock        (ts_code, trade_date); 64k groups
  page index 4/8/32KB neo's order and row groups, data pages of at most 4, 8 or 32 KB and a page
                      index (DuckDB writes one page per column chunk unless told a page size)
  rg 1M + page index 8KB    1M-row groups, 8 KB pages, page index
  order: day + page index 8KB   (trade_date, ts_code), 64k groups, 8 KB pages, page index
  no bloom filters    neo's layout without bloom filters
Each layout is read by an in-memory DuckDB with plain views (`read_parquet([...])`, as the floor)
twice: with DuckDB's defaults, and with `parquet_metadata_cache = true` (what neo.connect() sets).
Settings over neo's files alone: the external file cache off (`enable_external_file_cache`; on by
default, but DuckDB 2.0 caches local files in it only with `cache_local_files`), on for local files,
the same without validation (`validate_external_file_cache = 'NO_VALIDATION'`), `threads = 1`. Native:
`duckdb.connect(native_a.db, read_only=True)`.

Shapes: bench_query.py's point lookup and day cross-section (daily + daily_basic), and for the
trade-offs of a layout, one stock's whole daily history and the full-table aggregate by year. The
same stocks and days as bench_query.py's rounds. Method: one warm-up, then `--rounds` rounds, each
running every shape on every variant in turn (interleaved), every variant on its own warm
connection in this process (in-memory databases are separate instances, each with its own caches);
medians; every result checked equal to native's. Ratios against native.

Usage: python bench/bench_floor.py --root /work/bench-work/2000x20210101-20241231 [--rounds 9]
           [--scratch DIR] [--keep-scratch]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import bench_compact as bc
import bench_query as bq
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from _results import save
from suite import git_commit

from neo.datasets import get
from neo.lake import manifest
from neo.lake.catalog import lit, q
from neo.lake.compact import compacted_order

DATASETS = ("daily", "daily_basic")
HISTORY = "one stock's daily history"
AGGREGATE = "full-table aggregate by year"
SHAPES = {
    bq.POINT: bq.SHAPES[bq.POINT],
    bq.CROSS: bq.SHAPES[bq.CROSS],
    HISTORY: "SELECT * FROM daily WHERE ts_code = '{code}' ORDER BY trade_date",
    AGGREGATE: bq.SHAPES[AGGREGATE],
}
NEO_OPTIONS = "FORMAT parquet, COMPRESSION lz4_raw"


def page_index(page_bytes: int) -> str:
    """DuckDB writes one data page per column chunk unless a page size limit is set, and a page
    index over one page per chunk would prune nothing."""
    return f"WRITE_PAGE_INDEX true, DATA_PAGE_SIZE_LIMIT {page_bytes}"


@dataclass(frozen=True)
class Layout:
    """How to rewrite a dataset's rows: order (None: neo's), row-group size, files, extra COPY options."""

    order: str | None = None  # "day" or "stock"; None: compacted_order
    rows: int = 65_536
    split: str = "year"  # year: a file per year; month: per month; all: one file
    options: str = ""


LAYOUTS: dict[str, Layout | None] = {
    "neo": None,
    "rg 16k": Layout(rows=16_384),
    "rg 32k": Layout(rows=32_768),
    "rg 122,880": Layout(rows=122_880),
    "rg 1M": Layout(rows=1_048_576),
    "files: one per month": Layout(split="month"),
    "files: one in all": Layout(split="all"),
    "order: day": Layout(order="day"),
    "order: stock": Layout(order="stock"),
    "page index 4KB": Layout(options=page_index(4096)),
    "page index 8KB": Layout(options=page_index(8192)),
    "page index 32KB": Layout(options=page_index(32_768)),
    "rg 1M + page index 8KB": Layout(rows=1_048_576, options=page_index(8192)),
    "order: day + page index 8KB": Layout(order="day", options=page_index(8192)),
    "no bloom filters": Layout(options="WRITE_BLOOM_FILTER false"),
}
SETTINGS: dict[str, dict[str, str]] = {
    "defaults": {},
    "metadata cache": {"parquet_metadata_cache": "true"},
}
NEO_ONLY_SETTINGS: dict[str, dict[str, str]] = {
    # DuckDB 2.0 keeps the external file cache on but caches local files only with cache_local_files.
    "metadata cache, external file cache off": {
        "parquet_metadata_cache": "true",
        "enable_external_file_cache": "false",
    },
    "metadata cache + local file cache": {"parquet_metadata_cache": "true", "cache_local_files": "true"},
    "metadata cache + local file cache, no validation": {
        "parquet_metadata_cache": "true",
        "cache_local_files": "true",
        "validate_external_file_cache": "NO_VALIDATION",
    },
    "threads = 1": {"threads": "1"},
    "metadata cache, threads = 1": {"parquet_metadata_cache": "true", "threads": "1"},
}


def order_sql(name: str, layout: Layout) -> str:
    if layout.order == "day":
        return "trade_date, ts_code"
    if layout.order == "stock":
        return "ts_code, trade_date"
    return ", ".join(compacted_order(get(name)))


def rewrite(name: str, live: list[Path], layout: Layout, out: Path) -> list[Path]:
    """The rows of `live` as `layout` says, one single-file COPY per output file (sorted files)."""
    out.mkdir(parents=True, exist_ok=True)
    source = f"read_parquet([{', '.join(lit(str(p)) for p in live)}], hive_partitioning = false)"
    options = f"{NEO_OPTIONS}, ROW_GROUP_SIZE {layout.rows}" + (
        f", {layout.options}" if layout.options else ""
    )
    con = duckdb.connect(config={"preserve_insertion_order": True})
    try:
        if layout.split == "all":
            parts = [("all", "true")]
        else:
            unit = "year" if layout.split == "year" else "month"
            found = con.sql(f"SELECT DISTINCT date_trunc('{unit}', trade_date) AS u FROM {source} ORDER BY 1")
            parts = [
                (f"{u:%Y%m}", f"date_trunc('{unit}', trade_date) = DATE '{u}'") for (u,) in found.fetchall()
            ]
        files = []
        for label, where in parts:
            path = out / f"{label}.parquet"
            con.execute(
                f"COPY (SELECT * FROM {source} WHERE {where} ORDER BY {order_sql(name, layout)}) "
                f"TO {lit(str(path))} ({options})"
            )
            files.append(path)
        return files
    finally:
        con.close()


def describe(files: list[Path]) -> tuple[int, int, int]:
    """Files, row groups, bytes."""
    groups = sum(pq.read_metadata(p).num_row_groups for p in files)
    return len(files), groups, bc.disk_bytes(files)


def connect(files: dict[str, list[Path]], settings: dict[str, str]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    for k, v in settings.items():
        con.execute(f"SET {k} = {lit(v)}")
    for name, paths in files.items():
        con.execute(f"CREATE VIEW {q(name)} AS {bq.plain_read(get(name), [str(p) for p in paths])}")
    return con


@dataclass
class Variant:
    layout: str
    settings: str
    con: duckdb.DuckDBPyConnection
    times: dict[str, list[float]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.layout}, {self.settings}"


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--root", type=Path, required=True, help="a state directory bench_query.py kept")
    ap.add_argument("--rounds", type=int, default=9, help="timed rounds (default 9)")
    ap.add_argument("--scratch", type=Path, help="where the rewritten files go (default <root>/levers)")
    ap.add_argument("--keep-scratch", action="store_true", help="keep (and reuse) the rewritten files")
    args = ap.parse_args()
    root = args.root.resolve()
    home, native = root / "b", root / "native_a.db"
    scratch = (args.scratch or root / "levers").resolve()
    lake = home / "parquet"
    live = {n: manifest.live_files(lake, get(n)) for n in DATASETS}
    started = time.perf_counter()

    files: dict[str, dict[str, list[Path]]] = {"neo": live}
    for label, layout in LAYOUTS.items():
        if layout is None:
            continue
        files[label] = {}
        for name in DATASETS:
            out = scratch / label.replace(" ", "_").replace(":", "").replace(",", "") / name
            done = sorted(out.glob("*.parquet")) if args.keep_scratch else []
            if not done:
                shutil.rmtree(out, ignore_errors=True)
                done = rewrite(name, live[name], layout, out)
            files[label][name] = done
        bq.say(f"written: {label}")

    variants = [
        Variant(layout, s, connect(files[layout], v)) for layout in files for s, v in SETTINGS.items()
    ]
    variants += [Variant("neo", s, connect(live, v)) for s, v in NEO_ONLY_SETTINGS.items()]
    native_con = duckdb.connect(str(native), read_only=True)
    params = bq.round_params(native, args.rounds)
    load0 = os.getloadavg()[0]
    native_times: dict[str, list[float]] = {s: [] for s in SHAPES}
    try:
        for r in range(args.rounds + 1):
            for shape, template in SHAPES.items():
                sql = params[r].sql(template)
                t0 = time.perf_counter()
                want = native_con.sql(sql).to_arrow_table()
                if r:
                    native_times[shape].append(time.perf_counter() - t0)
                for v in variants:
                    t0 = time.perf_counter()
                    got = v.con.sql(sql).to_arrow_table()
                    elapsed = time.perf_counter() - t0
                    if r:
                        v.times.setdefault(shape, []).append(elapsed)
                    if why := bq.differs(want, got):
                        raise SystemExit(f"{v.label}, {shape}, round {r}: differs from native: {why}")
            bq.say(f"{'warm-up' if r == 0 else f'round {r}/{args.rounds}'} done")
    finally:
        for v in variants:
            v.con.close()
        native_con.close()
    load1 = os.getloadavg()[0]
    native_ms = {s: statistics.median(t) for s, t in native_times.items()}
    lines = report(args, root, files, variants, native_ms, (load0, load1), time.perf_counter() - started)
    if not args.keep_scratch:
        shutil.rmtree(scratch, ignore_errors=True)
    print("\n".join(lines))
    save(f"floor-{root.name}", lines)


def report(
    args: argparse.Namespace,
    root: Path,
    files: dict[str, dict[str, list[Path]]],
    variants: list[Variant],
    native_ms: dict[str, float],
    load: tuple[float, float],
    seconds: float,
) -> list[str]:
    shapes = list(SHAPES)
    lines = [
        f"## Levers for the floor: {root.name}, state (b), daily and daily_basic",
        "",
        f"Medians of {args.rounds} interleaved rounds after a warm-up, milliseconds, and the ratio to "
        "the native DuckDB table; every result checked equal to native's. "
        f"1-minute load average {load[0]:.2f} to {load[1]:.2f} ({os.cpu_count()} CPUs); DuckDB "
        f"{duckdb.__version__}, PyArrow {pa.__version__}, git {git_commit()}; {seconds / 60:.1f} minutes.",
        "",
        "| layout | settings | " + " | ".join(shapes) + " |",
        "|---|---|" + "---|" * len(shapes),
        "| **native** | | " + " | ".join(f"{bq.ms(native_ms[s])}" for s in shapes) + " |",
    ]
    for v in variants:
        cells = []
        for s in shapes:
            m = statistics.median(v.times[s])
            cells.append(f"{bq.ms(m)} (**{m / native_ms[s]:.2f}x**)")
        lines.append(f"| {v.layout} | {v.settings} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| layout | daily: files, row groups, bytes | daily_basic: files, row groups, bytes |",
        "|---|---|---|",
    ]
    for label, by_name in files.items():
        cells = []
        for name in DATASETS:
            n, groups, size = describe(by_name[name])
            cells.append(f"{n} files, {groups} row groups, {bc.mb(size)}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


if __name__ == "__main__":
    main()
