"""Compaction: per partition, merge a dataset's live files into a few large ones holding the latest
row per key, sorted by key (ts_code, then date), so row-group statistics prune point queries.

DuckDB does the work out of core: one single-file `COPY (... ORDER BY key)` per output file (a
partitioned COPY would not sort its files: DuckDB issue 14349), within `compact_memory_limit`,
spilling under `<home>/tmp/`, each statement in an in-memory database of its own (see _engine).

How it stays safe (see manifest.py for the file sets), per dataset, under its maintenance lock:
1. Start a new generation: ingestion from now on writes files compaction will not touch, and every
   file of the older generations is complete and registered.
2. Merge each partition with fresh files of the older generations, together with its compacted
   files, into new compacted files (written in a hidden directory, then renamed into place).
3. Commit: a new manifest lists the new compacted files, each with its box, and only the new
   generations as fresh. Then sync metadata.db. The replaced files stay on disk until `neo vacuum`
   after the grace period.
A crash before the commit leaves unreferenced files that vacuum deletes; the next run starts over
from step 1 with everything not yet compacted. A crash after it leaves an older metadata.db whose
files all still exist; the next compaction or sync replaces it.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from neo.core import files
from neo.core.config import Settings
from neo.core.errors import NeoError, unreadable
from neo.datasets import DATASETS, DatasetSpec
from neo.lake import catalog, engine, layout, manifest
from neo.lake.catalog import lit, q

log = logging.getLogger("neo.compact")
TEMP_PREFIX = ".compact-"
# Runs one SQL statement and returns its rows (see _engine).
Run = Callable[[str], list[tuple[Any, ...]]]


@dataclass
class PartitionResult:
    partition: str  # "year=2024", or "" for a snapshot
    files_in: int
    files_out: int
    rows: int


@dataclass
class CompactResult:
    dataset: str
    partitions: list[PartitionResult] = field(default_factory=list)
    skipped: str | None = None  # why nothing was done
    seconds: float = 0.0


def compact(
    settings: Settings,
    specs: Iterable[DatasetSpec] | None = None,
    on_partition: Callable[[str, PartitionResult], None] | None = None,
) -> list[CompactResult]:
    """Compact the given datasets (default: all), one after the other; then sync metadata.db, so
    that new connections read the compacted files."""
    lake = settings.lake_dir
    todo = [
        (spec, _has_fresh(lake, spec, manifest.read(lake, spec).state)) for spec in specs or DATASETS.values()
    ]
    results: list[CompactResult] = []
    try:
        for spec, fresh in todo:
            done = _compact_dataset(settings, spec, on_partition) if fresh else CompactResult(spec.name)
            done.skipped = done.skipped or (None if done.partitions else "already compact")
            results.append(done)
    finally:
        if any(r.partitions for r in results):
            catalog.sync(settings)
    return results


def _has_fresh(lake: Path, spec: DatasetSpec, state: manifest.State) -> bool:
    return bool(manifest.fresh(lake, spec, state.live_generations()))


def _compact_dataset(
    settings: Settings,
    spec: DatasetSpec,
    on_partition: Callable[[str, PartitionResult], None] | None = None,
) -> CompactResult:
    started = time.perf_counter()
    lake = settings.lake_dir
    result = CompactResult(spec.name)
    try:
        with manifest.maintenance(lake, spec) as m:
            before = m.state
            if not _has_fresh(lake, spec, before):
                return result
            m = manifest.new_generation(lake, spec, m)
            older = range(before.fresh_from, m.state.generation)
            version = m.state.version + 1  # the version the commit will have: names the new files
            base = layout.dataset_dir(lake, spec)
            # Files listed yet gone from disk (manifest.Live.lost) are forgotten here: the views
            # already leave them out, and the planner refills what they held.
            kept = [f for f in before.compacted if (base / f.rel).exists()]
            token = secrets.token_hex(4)
            fresh_files = [f for f in manifest.fresh(lake, spec, older) if (base / f.rel).exists()]
            with _engine(settings) as run:
                for directory, fresh in _by_partition(base, fresh_files).items():
                    replaced = [f for f in kept if (base / f.rel).parent == directory]
                    inputs = [Input(base / f.rel, f.box) for f in [*replaced, *fresh]]
                    outputs = _merge(
                        run,
                        spec,
                        inputs,
                        directory,
                        version,
                        token,
                        settings.compact_file_mb,
                        settings.compact_memory_bytes,
                    )
                    kept = [f for f in kept if f not in replaced]
                    made = [described(p, base, spec) for p in outputs]
                    kept += made
                    part = PartitionResult(
                        directory.name if directory != base else "",
                        len(inputs),
                        len(outputs),
                        sum(f.rows or 0 for f in made),
                    )
                    result.partitions.append(part)
                    if on_partition is not None:
                        on_partition(spec.name, part)
            done = replace(m.state, fresh_from=m.state.generation, compacted=tuple(sorted(kept, key=_rel)))
            manifest.commit(lake, spec, m, done)
    except manifest.Busy:
        result.skipped = manifest.BUSY
    finally:
        result.seconds = time.perf_counter() - started
    return result


def _rel(f: manifest.LiveFile) -> str:
    return f.rel


def described(path: Path, base: Path, spec: DatasetSpec) -> manifest.LiveFile:
    """A compacted file as the manifest lists it: rows, newest download and box, from the footer's
    statistics (no data is read). A missing statistic leaves the box unknown, which only costs
    the views a window, never a wrong answer."""
    meta = pq.read_metadata(path)
    names = meta.schema.to_arrow_schema().names

    def bounds(column: str) -> tuple[Any, Any, bool] | None:
        j = names.index(column)
        lo = hi = None
        nulls = False
        for i in range(meta.num_row_groups):
            stats = meta.row_group(i).column(j).statistics
            if stats is None or not stats.has_min_max:
                if meta.row_group(i).num_rows:
                    return None
                continue
            lo = stats.min if lo is None else min(lo, stats.min)
            hi = stats.max if hi is None else max(hi, stats.max)
            nulls = nulls or not stats.has_null_count or stats.null_count > 0
        return (lo, hi, nulls) if lo is not None else None

    fetched = bounds(layout.FETCHED_AT)
    fetched_at = fetched[1].astimezone(UTC).isoformat() if fetched else None
    box = None
    dates = bounds(spec.date_column) if spec.date_column else None
    if dates is not None:
        first = next((k for k in spec.key if k != spec.date_column), None)
        keys = None
        if first is not None and pa.types.is_string(spec.schema.field(first).type):
            found = bounds(first)
            keys = (found[0], found[1]) if found and not found[2] else None
        box = manifest.Box((str(dates[0]), str(dates[1])), keys)
    return manifest.LiveFile(path.relative_to(base).as_posix(), meta.num_rows, fetched_at, box)


def _by_partition(base: Path, files: list[manifest.LiveFile]) -> dict[Path, list[manifest.LiveFile]]:
    groups: dict[Path, list[manifest.LiveFile]] = {}
    for f in files:
        groups.setdefault((base / f.rel).parent, []).append(f)
    return dict(sorted(groups.items()))


@dataclass(frozen=True)
class Input:
    """A file a partition's merge reads, with its box when known (manifest.Box): a range of the
    compacted order reads only the files whose box can hold rows of it."""

    path: Path
    box: manifest.Box | None = None


@dataclass(frozen=True)
class Range:
    """A piece of a partition in the compacted order: the condition selecting its rows, and the
    dates it spans ([first, stop) as ISO text; None: unbounded) to choose its input files by."""

    where: str
    first: str | None = None
    stop: str | None = None

    def reads(self, box: manifest.Box | None) -> bool:
        if box is None:
            return True
        return (self.first is None or box.dates[1] >= self.first) and (
            self.stop is None or box.dates[0] < self.stop
        )


@contextmanager
def _engine(settings: Settings) -> Iterator[Run]:
    """Runs each statement in an in-memory DuckDB database of its own, opened for it and closed
    after it, limited to the configured memory and spilling under the data root.

    One database running statement after statement kept memory from each: its external file cache
    held the Parquet data it had read, and its allocator the pages earlier statements freed, so peak
    RSS grew with the number of partitions (measured: 5,000 stocks x 15 yearly partitions at 450MB,
    RSS after each partition 412, 486, ... 731 MB, peak 835 MB). Closing a database returns all of
    it: a database per partition still grew over a partition's ranges (peak 562 MB), one per
    statement peaks at 452 MB (docs/architecture.md). Every statement reads each file once, so the
    footer and file caches would only hold memory: both are off.
    """
    spill = settings.tmp_dir / f"compact-{os.getpid()}-{secrets.token_hex(4)}"
    spill.mkdir(parents=True, exist_ok=True)

    def run(sql: str) -> list[tuple[Any, ...]]:
        con = engine.connect(
            settings,
            cache_files=False,
            memory_limit=settings.compact_memory_limit,
            threads=settings.compact_threads,
            temp_directory=str(spill),  # its own, removed with it
            preserve_insertion_order=True,  # COPY writes rows in ORDER BY order
        )
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()

    try:
        yield run
    finally:
        shutil.rmtree(spill, ignore_errors=True)


def compacted_order(spec: DatasetSpec) -> list[str]:
    """SQL expressions ordering the rows of a compacted file: by month (the dataset's
    compact_grain: minute bars by day), then by key (ts_code first).

    A file's row groups then cover one month and a range of stocks each, so DuckDB's row-group
    statistics skip to a month for a day's or a month's rows and to a stock range within each month
    for one stock's history: both ways an analyst reads, where sorting by key alone made a day's
    cross-section read the whole year and sorting by day made a stock's history read everything.
    """
    key = [q(k) for k in spec.key]
    if not layout.is_partitioned(spec) or spec.date_column is None:
        return key
    return [f"date_trunc('{spec.compact_grain}', {q(spec.date_column)})", *key]


def _merge(
    run: Run,
    spec: DatasetSpec,
    inputs: list[Input],
    directory: Path,
    version: int,
    token: str,
    file_mb: int,
    memory_bytes: int,
) -> list[Path]:
    """Write the latest row per key of `inputs`, by month then key (compacted_order), as
    compacted files in `directory`.

    One single-file COPY per range of that order: DuckDB's FILE_SIZE_BYTES splits a sorted COPY
    into files whose order does not follow the sort (measured with two threads), and disjoint
    ranges keep every file's statistics tight.
    """
    fetched = q(layout.FETCHED_AT)
    key = ", ".join(q(k) for k in spec.key)
    order = ", ".join(compacted_order(spec))
    codec = spec.compact_codec or COMPRESSION
    options = f"FORMAT parquet, COMPRESSION {codec}, ROW_GROUP_SIZE {ROW_GROUP_ROWS}"
    staging = directory / f"{TEMP_PREFIX}{token}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    parts = []
    cols = _nullable_columns(spec)
    for n, piece in enumerate(_ranges(run, spec, inputs, file_mb, memory_bytes)):
        source = _source([i.path for i in inputs if piece.reads(i.box)])
        where = piece.where
        if layout.is_snapshot(spec):  # the newest download only, as the view shows it
            rows = f"SELECT {cols} FROM {source} WHERE {fetched} = (SELECT max({fetched}) FROM {source})"
        else:
            latest = f"row_number() OVER (PARTITION BY {key} ORDER BY {fetched} DESC) = 1"
            rows = f"SELECT {cols} FROM {source} WHERE {where} QUALIFY {latest}"
        part = staging / f"part_{n}.parquet"
        run(f"COPY ({rows} ORDER BY {order}) TO {lit(str(part))} ({options})")
        parts.append(part)
    expected = layout.file_schema(spec)
    outputs = []
    for n, part in enumerate(parts):
        got = pq.read_schema(part).remove_metadata()
        if not got.equals(expected):
            raise NeoError(f"{spec.name}: compacted file has schema {got}, expected {expected}")
        files.fsync(part)
        final = directory / layout.compacted_name(version, token, n)
        os.replace(part, final)
        outputs.append(final)
    files.fsync(directory)
    shutil.rmtree(staging, ignore_errors=True)
    return outputs


def _nullable_columns(spec: DatasetSpec) -> str:
    """Every column of the dataset's files, each one that DuckDB must write as nullable.

    DuckDB 2 writes a Parquet column as required (`not null`) when the statistics of its input say
    it holds no NULL, so a compacted file's schema would differ from the fresh files' by the data
    it happened to hold. A CASE with a NULL branch makes every column possibly NULL to the
    optimizer; DuckDB 1.x writes every column as nullable anyway. Cost: within the noise (a merge
    of 3M daily rows, 6 rounds: median 3.6 s without, 3.8 s with, on a shared 2-core machine).
    """
    return ", ".join(
        f"CASE WHEN {q(f.name)} IS NULL THEN NULL ELSE {q(f.name)} END AS {q(f.name)}"
        for f in layout.file_schema(spec)
    )


# Memory the merge needs per row of a piece (the window's hash partitions and the sort), with room.
ROW_MEMORY = 400
# Rows the cut points of a partition's ranges are computed from, at most (a uniform sample).
SAMPLE_ROWS = 200_000
# LZ4 decodes about twice as fast as zstd, and a scan's time is mostly decoding: on 5,000 stocks x
# 10 years (bench-query's data, same layout otherwise) a full aggregate took 2.2x native instead
# of 2.9x and one stock's history 1.1x instead of 1.9x; the files are 40% larger, still 0.8x the
# native DuckDB file.
COMPRESSION = "lz4_raw"
# Rows per row group: a month of a whole market (~105,000 rows) spans two groups or so, each a
# range of stocks, for pruning by day and by stock; fewer groups keep small the footer DuckDB
# parses for every query, which is most of a point lookup's time (measured 16k, 24k, 32k, 64k:
# 64k had the best day and point shapes, 0.3x more for one stock's history).
ROW_GROUP_ROWS = 65_536


def _source(paths: list[Path]) -> str:
    return f"read_parquet([{', '.join(lit(str(p)) for p in paths)}], hive_partitioning = false)"


def _ranges(
    run: Run,
    spec: DatasetSpec,
    inputs: list[Input],
    file_mb: int,
    memory_bytes: int,
) -> list[Range]:
    """Ranges of the compacted order (grain of the date, then first key column) splitting the
    partition into files of about `file_mb` each (the inputs' size on disk estimates the
    output's), and into pieces that fit the memory limit: DuckDB's latest-wins window needs memory
    per row, whatever the columns, and does not spill enough for a partition about the size of the
    limit (measured: a year of 5,000 stocks, 1.3M rows, failed at 128MB and 192MB; 500k rows
    failed at 100MB).

    Each range's condition bounds the date column itself too, so row-group statistics skip the
    rest of a file, and its dates choose the files it reads (Range.reads): a minute-bar year is
    thousands of files, each one stock's weeks, of which a day's range needs only those spanning
    that day, not every file of the year once per range.
    """
    paths = [i.path for i in inputs]
    size = sum(p.stat().st_size for p in paths)
    rows, decoded = map(sum, zip(*(_footprint(p) for p in paths), strict=True))
    need = max(rows * ROW_MEMORY, 3 * decoded)
    count = max(math.ceil(size / (file_mb * 1_000_000)), math.ceil(need / memory_bytes))
    if count <= 1 or layout.is_snapshot(spec):
        return [Range("true")]
    fractions = [i / count for i in range(1, count)]
    assert spec.date_column is not None  # partitioned: snapshots returned above
    column = q(spec.date_column)
    # A null in a key column is a value of the key (a statement without f_ann_date): it must fall in
    # one range, not in none, so it compares as ''.
    first = f"coalesce(CAST({q(next(k for k in spec.key if k != spec.date_column))} AS VARCHAR), '')"
    # Cut points in the compacted order (grain, then the first key column), found through text that
    # sorts the same way.
    day = spec.compact_grain == "day"
    text = f"strftime({column}, '{'%Y-%m-%d' if day else '%Y-%m'}') || '|' || {first}"
    # From a sample once the partition is large: quantile_disc holds every value it is given, and
    # a year of minute bars (58M texts for 1,000 stocks) does not fit a limit 20 times smaller. The
    # cuts only size the ranges; any cuts split the rows correctly.
    values = f"SELECT {text} AS t FROM {_source(paths)}"
    if rows > SAMPLE_ROWS:
        values = f"SELECT * FROM ({values}) USING SAMPLE reservoir({SAMPLE_ROWS} ROWS) REPEATABLE (1)"
    [bounds] = run(f"SELECT quantile_disc(t, {fractions}) FROM ({values})")
    cuts = sorted(set(bounds[0])) if bounds[0] else []
    if not cuts:
        return [Range("true")]

    def grain(cut: str) -> tuple[date, date]:
        """The first day of a cut's grain and of the next one."""
        start = date.fromisoformat(cut.split("|", 1)[0] + ("" if day else "-01"))
        if day:
            return start, start + timedelta(days=1)
        return start, (start.replace(day=28) + timedelta(days=4)).replace(day=1)

    def before(cut: str) -> str:
        # Spelled out on the column rather than as a range on the text: DuckDB 1.5.6 fails a
        # QUALIFY query whose WHERE holds `text >= a AND text < b` (INTERNAL Error in
        # TopNWindowElimination), and a bound on the column itself prunes row groups.
        code = cut.split("|", 1)[1]
        lo, hi = (f"DATE {lit(d.isoformat())}" for d in grain(cut))
        return f"({column} < {lo} OR ({column} < {hi} AND {first} < {lit(code)}))"

    def from_(cut: str) -> str:
        return grain(cut)[0].isoformat()

    def until(cut: str) -> str:
        return grain(cut)[1].isoformat()

    out = [Range(f"{column} < DATE {lit(until(cuts[0]))} AND {before(cuts[0])}", None, until(cuts[0]))]
    out += [
        Range(
            f"{column} >= DATE {lit(from_(lo))} AND {column} < DATE {lit(until(hi))} "
            f"AND NOT {before(lo)} AND {before(hi)}",
            from_(lo),
            until(hi),
        )
        for lo, hi in itertools.pairwise(cuts)
    ]
    out.append(Range(f"{column} >= DATE {lit(from_(cuts[-1]))} AND NOT {before(cuts[-1])}", from_(cuts[-1])))
    return out


def _footprint(path: Path) -> tuple[int, int]:
    """Rows, and their size once decoded, from the Parquet footer (no data is read)."""
    try:
        meta = pq.read_metadata(path)
    except pa.ArrowInvalid:
        raise unreadable(path) from None
    return meta.num_rows, sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
