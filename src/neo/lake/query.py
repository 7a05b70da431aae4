"""Read-only SQL on metadata.db, from any working directory."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from neo.core.config import Settings, load_settings
from neo.core.errors import NeoError, explain, first_line
from neo.lake import engine
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
        return engine.connect(settings, path, read_only=True)
    except duckdb.IOException as exc:
        if "not a valid DuckDB database file" not in str(exc):
            raise
    sync(settings)
    return engine.connect(settings, path, read_only=True)


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
