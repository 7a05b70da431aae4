"""metadata.db: one view per dataset over its live Parquet files, plus derived views. Views only, no data.

Each dataset view lists the dataset's live files by absolute path, as the manifest names them
(manifest.py): nothing else in a directory is ever read, so a stray or half-written file cannot
break a query. The views are specialised to the lake's state when they are built: files whose rows
cannot share a key with another live file's are read as they are, like a plain `read_parquet` of
them; only files that may (a re-download of days the lake holds, a revision) go through the
latest-wins window. A dataset without files has a typed view with no rows.

A sync builds a new database file next to metadata.db and renames it over the old one, so it never
opens metadata.db itself: it succeeds while analysts hold connections (read-only or read-write),
their open connections keep the file they opened, and new connections see the new views. Because
views list files by name, a file is in metadata.db from the first sync after it was written: the
writers' `Publisher` runs that sync by itself, `publish_delay` after a write (sharing it with the
files written meanwhile), and compaction syncs at its commit. neo's own reads (`open_lake`) build
the same views in memory from the manifests, current to the moment, and write nothing.

The file is written with DuckDB's storage version v1.0.0, so any DuckDB client from 1.0 on (CLI,
Python, R, Java, DBeaver...) can open it, whichever newer DuckDB wrote it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from neo.core import files
from neo.core.config import Settings
from neo.core.errors import first_line
from neo.datasets import DATASETS, DatasetSpec
from neo.lake import engine, layout, manifest, research
from neo.lake.engine import lit, q

log = logging.getLogger("neo.catalog")

STORAGE_VERSION = "v1.0.0"
PRICE_COLUMNS = ("open", "high", "low", "close", "pre_close")
SYNC_LOCK = ".metadata.db.lock"


def sql_type(t: pa.DataType) -> str:
    """The DuckDB type a Parquet column of this Arrow type reads as."""
    if pa.types.is_date32(t):
        return "DATE"
    if pa.types.is_floating(t):
        return "DOUBLE"
    if pa.types.is_integer(t):
        return "BIGINT"
    if pa.types.is_timestamp(t):
        return "TIMESTAMP WITH TIME ZONE" if t.tz else "TIMESTAMP"  # type: ignore[attr-defined]
    if pa.types.is_string(t):
        return "VARCHAR"
    raise TypeError(f"no SQL type for {t}")


def empty_relation(spec: DatasetSpec) -> str:
    """A relation with the dataset's files' columns and types and no rows: the view of a dataset
    with no live file (DuckDB cannot read an empty list of files)."""
    cols = ", ".join(f"CAST(NULL AS {sql_type(f.type)}) AS {q(f.name)}" for f in layout.file_schema(spec))
    return f"(SELECT {cols} WHERE false)"


def read_paths(paths: list[str]) -> str:
    """A relation over these Parquet files (absolute paths), read as every view reads them."""
    listed = ", ".join(lit(p) for p in paths)
    return f"read_parquet([{listed}], hive_partitioning = false)"


def relation(
    lake: Path, spec: DatasetSpec, files: list[manifest.LiveFile] | tuple[manifest.LiveFile, ...]
) -> str:
    """A relation over these live files of the dataset, typed and empty when there are none."""
    if not files:
        return empty_relation(spec)
    base = layout.dataset_dir(lake.resolve(), spec)
    paths = _readable_first([str(base / f.rel) for f in files])
    if paths is None:  # not one footer reads: a view that fails at query time, naming the file
        message = lit(
            f"{base / files[0].rel} is not a readable Parquet file (damaged, or not written by neo): "
            "move it out of the lake, then run `neo sync` (`neo verify` lists every such file)"
        )
        cols = ", ".join(
            f"CAST(error({message}) AS {sql_type(f.type)}) AS {q(f.name)}" for f in layout.file_schema(spec)
        )
        return f"(SELECT {cols} FROM range(1) WHERE error({message}) IS NULL)"
    return read_paths(paths)


def _readable_first(paths: list[str]) -> list[str] | None:
    """The paths with a file whose footer reads first (None if there is none): DuckDB binds a view
    by its first file's schema, so a damaged first file would fail the whole sync, every other
    dataset's views with it. A damaged file further down fails only the queries that read it,
    naming it."""
    for i, path in enumerate(paths):
        try:
            pq.read_metadata(path)
        except (OSError, pa.ArrowException):
            continue
        return paths if i == 0 else [path, *paths[:i], *paths[i + 1 :]]
    return None


def read_files(lake: Path, spec: DatasetSpec, live: manifest.Live | None = None) -> str:
    """Every row of the dataset's live files, not deduplicated."""
    return relation(lake, spec, (live or manifest.live(lake, spec)).files)


def dataset_view(lake: Path, spec: DatasetSpec, live: manifest.Live | None = None) -> str:
    """One row per key, the most recently downloaded; a snapshot shows its newest download only.

    Compacted files hold each key once among them, and a fresh file registered without overlaps
    shares no key with any other live file (manifest.Box): those are read as they are. The files
    that may share keys (manifest.Live.contested) go through the latest-wins window together.
    After a daily download nothing overlaps, so a view costs what reading its files costs.
    """
    live = live or manifest.live(lake, spec)
    cols = ", ".join(q(f.name) for f in spec.fields)
    fetched = q(layout.FETCHED_AT)
    if not live.files:
        return f"SELECT {cols} FROM {empty_relation(spec)}"
    if layout.is_snapshot(spec):
        return _snapshot_view(lake, spec, live, cols)
    contested = live.contested()
    clean = [f for f in live.files if f.rel not in contested]
    windowed = [f for f in live.files if f.rel in contested]
    parts = []
    if clean:
        parts.append(f"SELECT {cols} FROM {relation(lake, spec, clean)}")
    if windowed:
        key = ", ".join(q(k) for k in spec.key)
        parts.append(
            f"SELECT {cols} FROM {relation(lake, spec, windowed)} "
            f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {fetched} DESC) = 1"
        )
    return " UNION ALL ".join(parts)


def _snapshot_view(lake: Path, spec: DatasetSpec, live: manifest.Live, cols: str) -> str:
    """The newest download that returned rows: its files by name when every file's download time
    is known, else the rows of the newest `_fetched_at` (a lake from an older neo)."""
    fetched = q(layout.FETCHED_AT)
    if any(f.fetched_at is None or f.rows is None for f in live.files):
        return f"SELECT {cols} FROM {read_files(lake, spec, live)} QUALIFY {fetched} = max({fetched}) OVER ()"
    with_rows = [f for f in live.files if f.rows]
    if not with_rows:
        return f"SELECT {cols} FROM {empty_relation(spec)}"
    newest = max(datetime.fromisoformat(f.fetched_at or "") for f in with_rows)
    files = [f for f in with_rows if datetime.fromisoformat(f.fetched_at or "") == newest]
    return f"SELECT {cols} FROM {relation(lake, spec, files)}"


def latest_view(spec: DatasetSpec) -> str:
    """The latest version per latest_key: highest update_flag, then latest announcement dates."""
    assert spec.latest_key is not None
    part = ", ".join(q(k) for k in spec.latest_key)
    order = ", ".join(f"{q(c)} DESC NULLS LAST" for c in spec.version_order)
    return (
        f"SELECT * FROM {q(spec.name)} QUALIFY row_number() OVER (PARTITION BY {part} ORDER BY {order}) = 1"
    )


def adjusted_view(kind: str) -> str:
    """daily prices times adj_factor (hfq), divided by the stock's latest factor in the lake for qfq.

    qfq is anchored at the latest adj_factor the lake holds for each stock, so the series changes
    (as a whole) when a new ex-dividend factor arrives; hfq never changes for past days.
    """
    scale = "a.adj_factor" if kind == "hfq" else "a.adj_factor / l.latest_factor"
    prices = ", ".join(f"d.{c} * {scale} AS {c}" for c in PRICE_COLUMNS)
    anchor = ""
    if kind == "qfq":
        anchor = (
            "LEFT JOIN (SELECT ts_code, arg_max(adj_factor, trade_date) AS latest_factor "
            "FROM adj_factor GROUP BY ts_code) l ON l.ts_code = d.ts_code "
        )
    return (
        f"SELECT d.ts_code, d.trade_date, {prices}, "
        f"d.close * {scale} - d.pre_close * {scale} AS change, d.pct_chg, d.vol, d.amount, "
        f"a.adj_factor FROM daily d LEFT JOIN adj_factor a "
        f"ON a.ts_code = d.ts_code AND a.trade_date = d.trade_date {anchor}"
    )


def views(lake: Path, live: Mapping[str, manifest.Live] | None = None) -> dict[str, str]:
    """Every view of metadata.db by name, in creation order; `live`, each dataset's live files when
    the caller has read them (lake/model.py), else they are read here."""
    out = {
        spec.name: dataset_view(lake, spec, live[spec.name] if live else None) for spec in DATASETS.values()
    }
    for spec in DATASETS.values():
        if spec.latest_key is not None:
            out[f"{spec.name}_latest"] = latest_view(spec)
    out["daily_hfq"] = adjusted_view("hfq")
    out["daily_qfq"] = adjusted_view("qfq")
    out |= research.views()  # point-in-time statements, tradability (research.py)
    return out


@dataclass
class SyncResult:
    path: Path
    views: list[str]
    macros: list[str]  # the table macros, as called: income_asof(d)


def open_lake(settings: Settings) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with metadata.db's views: for neo's own reads of the lake,
    which must not depend on metadata.db being present or current. Writes nothing."""
    con = engine.connect(settings)
    create_views(con, views(settings.lake_dir))
    return con


def create_views(con: duckdb.DuckDBPyConnection, all_views: dict[str, str]) -> None:
    """The views and then the table macros, in `con`'s current database."""
    for name, sql in all_views.items():
        con.execute(f"CREATE VIEW {q(name)} AS {sql}")  # binds: a broken view fails here
    for statement in research.macro_statements():  # the *_asof table macros
        con.execute(statement)


@contextmanager
def _sync_lock(settings: Settings) -> Iterator[None]:
    """One sync at a time across processes: each one reads the manifests under the lock, so the
    file renamed last lists everything the ones before it did."""
    lock = settings.home / SYNC_LOCK
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def sync(settings: Settings) -> SyncResult:
    """Rebuild metadata.db atomically (write a new file, rename it over the old one). The views are
    built from the manifests as read under the sync lock, so the file renamed last lists the most."""

    def build(tmp: Path) -> None:
        con = engine.connect(settings)
        try:
            con.execute(f"ATTACH {lit(str(tmp))} AS neo_meta (STORAGE_VERSION {lit(STORAGE_VERSION)})")
            con.execute("USE neo_meta")
            create_views(con, all_views)
            _describe(con)
            con.execute("USE memory")
            con.execute("DETACH neo_meta")
        finally:
            con.close()
            Path(f"{tmp}.wal").unlink(missing_ok=True)

    with _sync_lock(settings):
        all_views = views(settings.lake_dir)
        files.replace_atomically(settings.metadata_db, build)
    called = [f"{name}({', '.join(params)})" for name, (params, _) in research.macros().items()]
    return SyncResult(settings.metadata_db, list(all_views), called)


class Publisher:
    """Syncs metadata.db after writes, so that new files reach analysts' new connections without
    anyone running `neo sync`: `changed()` after a file is written; a background thread syncs
    `publish_delay` seconds later, once for every file written meanwhile. `flush()` syncs now if
    anything is waiting; `close()` flushes and stops the thread. A sync that fails (a full disk) is
    logged and tried again at the next change or flush; the files it would list are safe on disk
    and in the manifest, and neo's own reads see them already.

    A sync rebuilds every view, which takes about half a second of a core on a small lake and more
    as files pile up (a minute-bar history writes thousands): during a long download, syncing every
    `publish_delay` took about a seventh of the process's CPU. So after a sync of t seconds the
    next one waits at least PACE x t: syncs then cost at most 1 / (PACE + 1) of a core."""

    PACE = 9

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._cond = threading.Condition()
        self._pending = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._running = threading.Lock()  # one sync at a time here; flush waits for a running one
        self.syncs = 0  # syncs this publisher ran: tests and benchmarks read it
        self._took = 0.0  # seconds the last sync took

    def changed(self) -> None:
        with self._cond:
            self._pending = True
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="neo-publisher", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
            # More files may arrive: one sync for all of them.
            self._wait(max(self.settings.publish_delay, self.PACE * self._took))
            self._sync_pending()

    def _wait(self, seconds: float) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._closed, timeout=seconds)

    def _sync_pending(self) -> None:
        with self._running:
            with self._cond:
                if not self._pending:
                    return
                self._pending = False
            try:
                started = time.monotonic()
                sync(self.settings)
                self._took = time.monotonic() - started
                self.syncs += 1
            except Exception as exc:  # the next change or flush tries again
                log.warning("could not sync metadata.db: %s", first_line(str(exc)))
                with self._cond:
                    self._pending = True

    def flush(self) -> None:
        """Sync now if a write is not yet published (waits for a sync already running)."""
        self._sync_pending()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
        self.flush()


def _describe(con: duckdb.DuckDBPyConnection) -> None:
    """A small table telling analysts what each dataset view is."""
    con.execute(
        "CREATE TABLE neo_datasets (name VARCHAR, api VARCHAR, key VARCHAR, date_column VARCHAR, "
        "strategy VARCHAR, description VARCHAR, synced_at TIMESTAMP)"
    )
    now = datetime.now(UTC).replace(tzinfo=None)  # naive UTC: TIMESTAMPTZ needs pytz in Python clients
    con.executemany(
        "INSERT INTO neo_datasets VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (s.name, s.api, ",".join(s.key), s.date_column, str(s.strategy), s.description, now)
            for s in DATASETS.values()
        ],
    )
