"""`neo migrate --legacy OLD.db`: import a legacy DuckDB database (DBOperator.upsert's output) into
the lake, through the same ParquetWriter as downloads.

Each legacy table is read through LegacyTable.select_sql, so its rows arrive with the declared
columns and types, and nothing is loaded whole: a table is split into chunks, one per year of its
date column (one for an undated table), and each chunk is streamed in key order and written in
pieces of at most PIECE_VALUES values (rows x columns).

Resumable: the pieces and their batch ids are deterministic (key order, a piece size fixed when the
chunk is planned), each written piece is recorded in state/migrate.sqlite, and a re-run continues
after the last recorded piece. A piece written but not yet recorded when the process died is written
again under the same batch id and download time, which replaces its own files. Migrated rows get as
download time the legacy file's modification time, fixed at the first run: older than any download
made after the legacy system stopped writing, so the latest-wins views prefer newer downloads.

Once a chunk is complete, the ledger records the days (or report periods) it covered, so
`neo download` does not fetch them again; days missing from the legacy DB stay missing and are
planned as usual.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
from filelock import FileLock
from filelock import Timeout as LockTimeout
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from neo.core.dates import fmt_day, parse_day
from neo.core.errors import UsageError
from neo.datasets import DatasetSpec
from neo.lake.catalog import sync
from neo.lake.engine import first_row
from neo.lake.writer import ParquetWriter
from neo.legacy.source import LegacyTable, check_file, find_tables, open_legacy, q, reading, repeated_keys
from neo.pipeline.container import AppContainer
from neo.strategies import for_spec

PIECE_VALUES = 20_000_000  # ~160 MB of doubles: a piece of daily is 1.8M rows, of balancesheet 127k
READ_ROWS = 100_000  # rows per Arrow batch streamed from DuckDB
ALL = "all"  # the part name of an undated table's single chunk
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class DatasetResult:
    dataset: str
    table: str
    rows: int = 0  # rows of the legacy table
    written: int = 0  # rows this run wrote
    pieces: int = 0  # pieces this run wrote
    ignored: tuple[str, ...] = ()  # legacy columns the dataset does not declare
    missing: list[str] = field(default_factory=list)  # declared columns the legacy table lacks (NULL)
    already: bool = False  # finished by an earlier run


@dataclass
class MigrateResult:
    legacy: Path
    fetched_at: datetime  # the download time every migrated row carries
    datasets: list[DatasetResult] = field(default_factory=list)
    unknown_tables: list[str] = field(default_factory=list)  # legacy tables no dataset maps to
    absent: list[str] = field(default_factory=list)  # datasets with no legacy table

    @property
    def written(self) -> int:
        return sum(d.written for d in self.datasets)

    @property
    def rows(self) -> int:
        return sum(d.rows for d in self.datasets)

    @property
    def nothing_to_do(self) -> bool:
        return all(d.already for d in self.datasets)


@dataclass(frozen=True)
class Chunk:
    part: str  # the year, or ALL
    rows: int
    piece_rows: int
    pieces_done: int
    rows_done: int


# --- state ----------------------------------------------------------------------------------------

SCHEMA = """
CREATE TABLE IF NOT EXISTS sources (
    source TEXT PRIMARY KEY,        -- the legacy file's resolved path
    mtime_ns INTEGER NOT NULL,      -- its modification time and size when the migration started:
    size INTEGER NOT NULL,          -- a changed file must not be resumed as if it were the same
    fetched_at_us INTEGER NOT NULL, -- download time of every migrated row (microseconds since epoch)
    started_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS planned (
    source TEXT NOT NULL, dataset TEXT NOT NULL, PRIMARY KEY (source, dataset)
);
CREATE TABLE IF NOT EXISTS chunks (
    source TEXT NOT NULL, dataset TEXT NOT NULL, part TEXT NOT NULL,
    rows INTEGER NOT NULL, piece_rows INTEGER NOT NULL,
    pieces_done INTEGER NOT NULL DEFAULT 0, rows_done INTEGER NOT NULL DEFAULT 0,
    finished_at REAL,
    PRIMARY KEY (source, dataset, part)
);
CREATE TABLE IF NOT EXISTS days (           -- rows per date, for the ledger once a chunk is done
    source TEXT NOT NULL, dataset TEXT NOT NULL, part TEXT NOT NULL, day TEXT NOT NULL,
    rows INTEGER NOT NULL,
    PRIMARY KEY (source, dataset, day)
);
"""


class MigrationState:
    """Which chunks and pieces of which legacy file are in the lake (SQLite, durable per commit)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")  # a recorded piece must be as durable as its file
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def source(self, source: str) -> tuple[int, int, int] | None:
        row = self.db.execute(
            "SELECT mtime_ns, size, fetched_at_us FROM sources WHERE source = ?", (source,)
        ).fetchone()
        return (int(row[0]), int(row[1]), int(row[2])) if row else None

    def start(self, source: str, mtime_ns: int, size: int, fetched_at_us: int) -> None:
        self.db.execute(
            "INSERT INTO sources VALUES (?, ?, ?, ?, ?)", (source, mtime_ns, size, fetched_at_us, time.time())
        )

    def forget(self, source: str) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        for table in ("sources", "planned", "chunks", "days"):
            self.db.execute(f"DELETE FROM {table} WHERE source = ?", (source,))
        self.db.execute("COMMIT")

    def wrote(self, source: str) -> bool:
        """Whether any piece of this legacy file is in the lake."""
        row = self.db.execute(
            "SELECT 1 FROM chunks WHERE source = ? AND (pieces_done > 0 OR finished_at IS NOT NULL)",
            (source,),
        ).fetchone()
        return row is not None

    def planned(self, source: str, dataset: str) -> bool:
        return (
            self.db.execute(
                "SELECT 1 FROM planned WHERE source = ? AND dataset = ?", (source, dataset)
            ).fetchone()
            is not None
        )

    def plan(
        self, source: str, dataset: str, chunks: list[tuple[str, int, int]], days: list[tuple[str, str, int]]
    ) -> None:
        """All chunks and days of a dataset in one transaction, so a plan is never half recorded."""
        self.db.execute("BEGIN IMMEDIATE")
        self.db.executemany(
            "INSERT INTO chunks (source, dataset, part, rows, piece_rows) VALUES (?, ?, ?, ?, ?)",
            [(source, dataset, part, rows, piece_rows) for part, rows, piece_rows in chunks],
        )
        self.db.executemany(
            "INSERT INTO days VALUES (?, ?, ?, ?, ?)",
            [(source, dataset, part, day, rows) for part, day, rows in days],
        )
        self.db.execute("INSERT INTO planned VALUES (?, ?)", (source, dataset))
        self.db.execute("COMMIT")

    def chunks(self, source: str, dataset: str, *, finished: bool) -> list[Chunk]:
        rows = self.db.execute(
            "SELECT part, rows, piece_rows, pieces_done, rows_done FROM chunks "
            f"WHERE source = ? AND dataset = ? AND finished_at IS {'NOT' if finished else ''} NULL "
            "ORDER BY part",
            (source, dataset),
        ).fetchall()
        return [Chunk(*r) for r in rows]

    def piece_done(self, source: str, dataset: str, part: str, pieces: int, rows: int) -> None:
        self.db.execute(
            "UPDATE chunks SET pieces_done = ?, rows_done = ? WHERE source = ? AND dataset = ? AND part = ?",
            (pieces, rows, source, dataset, part),
        )

    def chunk_done(self, source: str, dataset: str, part: str) -> None:
        self.db.execute(
            "UPDATE chunks SET finished_at = ? WHERE source = ? AND dataset = ? AND part = ?",
            (time.time(), source, dataset, part),
        )

    def days(self, source: str, dataset: str, part: str) -> list[tuple[str, int]]:
        return self.db.execute(
            "SELECT day, rows FROM days WHERE source = ? AND dataset = ? AND part = ? ORDER BY day",
            (source, dataset, part),
        ).fetchall()


# --- the migration --------------------------------------------------------------------------------


def migrate(
    container: AppContainer,
    legacy: Path,
    datasets: list[str] | None = None,
    *,
    restart: bool = False,
    console: Console | None = None,
    writer: ParquetWriter | None = None,
    piece_values: int = PIECE_VALUES,
) -> MigrateResult:
    """Import the legacy tables (all, or those of `datasets`), continuing an earlier run.

    `restart` forgets what earlier runs of this legacy file recorded and imports it again, with its
    current modification time as download time (so its rows win over the earlier import's).
    """
    settings = container.settings
    check_file(legacy)
    source = str(legacy.resolve())
    with ExitStack() as stack:
        stack.enter_context(_lock(settings.migrate_state.with_suffix(".lock")))
        state = MigrationState(settings.migrate_state)
        stack.callback(state.close)
        con = open_legacy(legacy, settings)
        stack.callback(con.close)
        mapping = find_tables(con, settings, datasets)
        fetched_at = _download_time(state, legacy, source, restart)
        result = MigrateResult(legacy, fetched_at, unknown_tables=mapping.unknown, absent=mapping.absent)
        run = _Run(con, state, container, writer or container.writer, source, fetched_at, piece_values)
        run.all(mapping.tables, result, console or Console(stderr=True))
    if result.written:
        sync(settings)  # metadata.db lists the new files from now on (neo's own reads already did)
    return result


@contextmanager
def _lock(path: Path) -> Iterator[None]:
    """One migration per data root: two would share the state file and write the same pieces."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path)
    try:
        lock.acquire(timeout=0)
    except LockTimeout:
        raise UsageError("another `neo migrate` is running on this data root") from None
    try:
        yield
    finally:
        lock.release()


def _download_time(state: MigrationState, legacy: Path, source: str, restart: bool) -> datetime:
    """The download time of every row migrated from this file: its modification time when the
    migration started, kept for every later run so that re-written pieces keep their file names."""
    mtime_ns, size = _stamp(legacy)
    recorded = state.source(source)
    changed = recorded is not None and recorded[:2] != (mtime_ns, size)
    if restart or (changed and not state.wrote(source)):  # nothing written yet: just start afresh
        state.forget(source)
        recorded = None
    if recorded is None:
        state.start(source, mtime_ns, size, mtime_ns // 1000)
        return EPOCH + timedelta(microseconds=mtime_ns // 1000)
    if changed:
        raise UsageError(
            f"{legacy} changed since its migration started; run `neo migrate --legacy {legacy} "
            "--restart` to import it again (its rows then win over the earlier import's)"
        )
    return EPOCH + timedelta(microseconds=recorded[2])


def _stamp(path: Path) -> tuple[int, int]:
    """(modification time, size) of the legacy database, its write-ahead log included: a WAL holds
    writes newer than the main file's time."""
    mtime, size = 0, 0
    for p in (path, path.with_name(path.name + ".wal")):
        if p.exists():
            st = p.stat()
            mtime, size = max(mtime, st.st_mtime_ns), size + st.st_size
    return mtime, size


@dataclass
class _Run:
    con: duckdb.DuckDBPyConnection
    state: MigrationState
    container: AppContainer
    writer: ParquetWriter
    source: str
    fetched_at: datetime
    piece_values: int

    def all(self, tables: list[LegacyTable], result: MigrateResult, console: Console) -> None:
        planned_before = set()
        for t in tables:  # every table planned (and so checked) before the first row is written
            if self.state.planned(self.source, t.spec.name):
                planned_before.add(t.spec.name)
            else:
                self._plan(t)
        work: list[tuple[LegacyTable, DatasetResult, int, list[Chunk]]] = []
        for t in tables:
            done = self.state.chunks(self.source, t.spec.name, finished=True)
            todo = self.state.chunks(self.source, t.spec.name, finished=False)
            out = DatasetResult(
                t.spec.name,
                t.name,
                rows=sum(c.rows for c in done + todo),
                ignored=t.ignored,
                missing=t.missing,
                already=t.spec.name in planned_before and not todo,
            )
            result.datasets.append(out)
            work.append((t, out, sum(c.rows for c in done) + sum(c.rows_done for c in todo), todo))
        if not any(todo for *_, todo in work):
            return  # nothing to show progress of
        progress = Progress(
            TextColumn("{task.description:<14}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("rows"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        with progress:
            for t, out, completed, todo in work:
                task = progress.add_task(t.spec.name, total=out.rows, completed=completed)
                for chunk in todo:
                    self._chunk(t, chunk, out, lambda n, task=task: progress.advance(task, n))

    def _plan(self, t: LegacyTable) -> None:
        """Chunks (one per year) and rows per day of a table, recorded before anything is written."""
        spec = t.spec
        if repeated_keys(self.con, t):
            raise UsageError(
                f"legacy table {t.name!r} holds some keys ({', '.join(spec.key)}) more than once, "
                "so which row is current cannot be told"
            )
        piece_rows = max(1, self.piece_values // len(spec.fields))
        if spec.date_column is None:
            with reading(t):
                row = first_row(self.con, f"SELECT count(*) FROM ({t.select_sql()})")
            rows = int(row[0]) if row else 0
            self.state.plan(self.source, spec.name, [(ALL, rows, piece_rows)] if rows else [], [])
            return
        sql = f"SELECT {q(spec.date_column)}, count(*) FROM ({t.select_sql()}) GROUP BY 1 ORDER BY 1"
        with reading(t):
            per_day: list[tuple[date | None, int]] = self.con.execute(sql).fetchall()
        if per_day and per_day[-1][0] is None:  # NULLs sort last
            raise UsageError(
                f"{per_day[-1][1]} rows of legacy table {t.name!r} have no {spec.date_column}, "
                f"so they cannot be placed in a year"
            )
        years: dict[str, int] = {}
        for day, n in per_day:
            assert day is not None
            years[str(day.year)] = years.get(str(day.year), 0) + n
        days = [(str(d.year), fmt_day(d), n) for d, n in per_day if d is not None]
        self.state.plan(self.source, spec.name, [(y, n, piece_rows) for y, n in years.items()], days)

    def _chunk(
        self, t: LegacyTable, chunk: Chunk, out: DatasetResult, advance: Callable[[int], None]
    ) -> None:
        spec = t.spec
        key = ", ".join(q(k) for k in spec.key)
        where = ""
        if chunk.part != ALL:
            year = int(chunk.part)
            where = (
                f"WHERE {q(spec.date_column or '')} >= DATE '{year:04d}-01-01' "
                f"AND {q(spec.date_column or '')} < DATE '{year + 1:04d}-01-01'"
            )
        skip = chunk.pieces_done * chunk.piece_rows
        sql = f"SELECT * FROM ({t.select_sql()}) {where} ORDER BY {key} OFFSET {skip}"
        tag = hashlib.sha1(self.source.encode()).hexdigest()[:8]  # two legacy files never share names
        piece, rows = chunk.pieces_done, chunk.rows_done
        with reading(t):
            reader = self.con.sql(sql).to_arrow_reader(min(READ_ROWS, chunk.piece_rows))
            for table in _pieces(reader, chunk.piece_rows):
                self.writer.write(
                    table, spec, batch_id=f"legacy-{tag}-{chunk.part}-{piece:05d}", fetched_at=self.fetched_at
                )
                piece, rows = piece + 1, rows + table.num_rows
                self.state.piece_done(self.source, spec.name, chunk.part, piece, rows)
                out.written += table.num_rows
                out.pieces += 1
                advance(table.num_rows)
        if rows != chunk.rows:
            raise UsageError(
                f"legacy table {t.name!r} changed during the migration ({chunk.part}: {rows:,} rows "
                f"read, {chunk.rows:,} planned); run again with --restart"
            )
        self._mark_ledger(spec, chunk.part)
        self.state.chunk_done(self.source, spec.name, chunk.part)

    def _mark_ledger(self, spec: DatasetSpec, part: str) -> None:
        """The requests `neo download` would make for the days this chunk covered, as done. Before the
        chunk is marked finished: if the process dies in between, the re-run marks them again."""
        strategy = for_spec(spec)
        days = self.state.days(self.source, spec.name, part)
        requests = [(strategy.ledger_params(spec, parse_day(day)), rows) for day, rows in days]
        if requests and requests[0][0] is not None:
            self.container.ledger.covered(spec.name, requests)


def _pieces(reader: pa.RecordBatchReader, size: int) -> Iterator[pa.Table]:
    """Re-cut a stream of record batches into tables of exactly `size` rows (the last one shorter),
    so piece boundaries never depend on how DuckDB sized its batches."""
    buffered: list[pa.RecordBatch] = []
    have = 0
    for batch in reader:
        buffered.append(batch)
        have += batch.num_rows
        while have >= size:
            table = pa.Table.from_batches(buffered, schema=reader.schema)
            yield table.slice(0, size)
            rest = table.slice(size)
            buffered, have = rest.to_batches(), rest.num_rows
    if have:
        yield pa.Table.from_batches(buffered, schema=reader.schema)
