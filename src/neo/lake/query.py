"""Read-only SQL on metadata.db, from any working directory."""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import pyarrow as pa

from neo.core.config import Settings, load_settings
from neo.core.errors import NeoError, explain, first_line
from neo.lake import engine
from neo.lake.catalog import open_lake
from neo.lake.engine import lit


class QueryError(NeoError):
    """Bad SQL, or SQL that tried to change metadata.db."""


# One DuckDB instance per metadata.db file this process opened, by path: its connections share the
# Parquet footers they cached. A sync replaces the file (a new inode), and the next connect opens
# the new one. (duckdb.connect(path) would hand back the instance of the replaced file for as long
# as any connection to it is open, with the old views.)
_instances: dict[Path, tuple[int, duckdb.DuckDBPyConnection]] = {}
_instances_lock = threading.Lock()


def connect(settings: Settings | None = None) -> duckdb.DuckDBPyConnection:
    """A read-only DuckDB connection on metadata.db, as synced last. Where metadata.db is missing
    or damaged, the same views in an in-memory connection instead: connecting writes nothing
    (`neo sync` writes metadata.db)."""
    settings = settings or load_settings()
    path = settings.metadata_db.resolve()
    try:
        inode = path.stat().st_ino
    except FileNotFoundError:
        return open_lake(settings)
    with _instances_lock:
        hit = _instances.get(path)
        if hit is None or hit[0] != inode:
            try:
                con = engine.connect(settings)
                con.execute(f"ATTACH {lit(str(path))} AS metadata (READ_ONLY)")
            except duckdb.IOException as exc:
                if "not a valid DuckDB database file" not in str(exc):
                    raise
                return open_lake(settings)
            if hit is not None:
                hit[1].close()  # its cursors keep the instance, and the file they opened
            hit = _instances[path] = (inode, con)
    cursor = hit[1].cursor()
    cursor.execute("USE metadata")
    return cursor


def run(sql: str, settings: Settings | None = None) -> pa.Table:
    """Run one SQL statement read-only and return its result (an empty table if it has none)."""
    con = connect(settings)
    try:
        rel = con.sql(sql)
        return rel.to_arrow_table() if rel is not None else pa.table({})
    except duckdb.Error as exc:
        raise explain(exc) or QueryError(f"SQL failed: {first_line(str(exc))}") from None
    finally:
        con.close()
