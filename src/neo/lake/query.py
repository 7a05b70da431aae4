"""Read-only SQL on metadata.db, from any working directory."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from neo.config import Settings, load_settings
from neo.errors import NeoError, explain, first_line
from neo.lake.catalog import sync


class QueryError(NeoError):
    """Bad SQL, or SQL that tried to change metadata.db."""


def connect(settings: Settings | None = None) -> duckdb.DuckDBPyConnection:
    """A read-only DuckDB connection on metadata.db, built first if it is missing or damaged (it
    holds only views, so rebuilding it loses nothing)."""
    settings = settings or load_settings()
    path = settings.metadata_db
    if not path.exists():
        sync(settings)
    try:
        return _tuned(duckdb.connect(str(path), read_only=True))
    except duckdb.IOException as exc:
        if "not a valid DuckDB database file" not in str(exc):
            raise
    sync(settings)
    return _tuned(duckdb.connect(str(path), read_only=True))


def _tuned(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    # DuckDB parses every Parquet footer again at each query unless told to cache them (checked
    # against the file's modification time). Measured on 5,000 stocks x 10 years: a day's
    # cross-section 45 -> 28 ms, a point lookup 13.5 -> 10.5 ms. metadata.db cannot carry a
    # setting, so only connections made here get it.
    con.execute("SET parquet_metadata_cache = true")
    return con


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
