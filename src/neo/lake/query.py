"""Read-only SQL on metadata.db, from any working directory.

`neo query` runs queries and nothing else: what DuckDB's own parser types as a SELECT (SELECT,
WITH, VALUES, FROM-first, TABLE, DESCRIBE, SHOW, SUMMARIZE), and EXPLAIN [ANALYZE] of one. Every
other statement is refused before anything runs, whatever it would do: COPY ... TO and
EXPORT DATABASE write files, ATTACH opens or creates another database, INSTALL and LOAD fetch and
run extensions, SET, RESET and PRAGMA change settings (profiling_output and temp_directory make
DuckDB write where they say), CALL runs functions such as checkpoint, IMPORT DATABASE runs the
statements of a directory. The check is by statement type (`extract_statements`), not by text, so
comments and spelling cannot hide a statement; then the connection's configuration is locked, so
nothing that got through could change a setting either.

A query larger than memory spills to `<home>/tmp/` while it runs; DuckDB deletes what it spilled
(and the directory, if it made it) when the query ends.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import duckdb
import pyarrow as pa

from neo.core.config import Settings, load_settings
from neo.core.errors import NeoError, check_exists, explain, first_line
from neo.lake import engine
from neo.lake.catalog import open_lake
from neo.lake.engine import lit

log = logging.getLogger("neo.query")

QUERIES = "SELECT, WITH, VALUES, DESCRIBE, SHOW, SUMMARIZE, or EXPLAIN of one of these"


class QueryError(NeoError):
    """Bad SQL, or SQL that would do more than read."""


# One DuckDB instance per metadata.db file this process opened, by path: its connections share the
# Parquet footers they cached. A sync replaces the file (a new inode), and the next connect opens
# the new one. (duckdb.connect(path) would hand back the instance of the replaced file for as long
# as any connection to it is open, with the old views.)
_instances: dict[Path, tuple[int, duckdb.DuckDBPyConnection]] = {}
_instances_lock = threading.Lock()


def connect(settings: Settings | None = None) -> duckdb.DuckDBPyConnection:
    """A read-only DuckDB connection on metadata.db, as synced last. Without metadata.db (never
    synced, or damaged) the same views are built in memory instead: reading never writes, and `neo
    sync` builds the file. A data root that does not exist is a one-line error, and nothing is
    created."""
    settings = settings or load_settings()
    check_exists(settings.home)
    path = settings.metadata_db.resolve()
    try:
        inode = path.stat().st_ino
    except FileNotFoundError:
        return open_lake(settings)
    with _instances_lock:
        hit = _instances.get(path)
        if hit is None or hit[0] != inode:
            con = _attached(settings, path)
            if con is None:
                return open_lake(settings)
            if hit is not None:
                hit[1].close()  # its cursors keep the instance, and the file they opened
            hit = _instances[path] = (inode, con)
    cursor = hit[1].cursor()
    cursor.execute("USE metadata")
    return cursor


def _attached(settings: Settings, path: Path) -> duckdb.DuckDBPyConnection | None:
    """An in-memory DuckDB instance of its own with metadata.db attached read-only and in use;
    None when the file is not a DuckDB database."""
    con = engine.connect(settings)
    try:
        con.execute(f"ATTACH {lit(str(path))} AS metadata (READ_ONLY)")
    except duckdb.IOException as exc:
        con.close()
        if "not a valid DuckDB database file" not in str(exc):
            raise
        log.warning("%s is damaged: reading the lake through views in memory (neo sync)", path)
        return None
    con.execute("USE metadata")
    return con


def run(sql: str, settings: Settings | None = None) -> pa.Table:
    """Run one query and return its result; any statement that is not a query is refused. The
    connection is its own (its configuration is locked), not one `connect` shares."""
    settings = settings or load_settings()
    check_exists(settings.home)
    path = settings.metadata_db.resolve()
    con = (_attached(settings, path) if path.exists() else None) or open_lake(settings)
    try:
        check_query(con, sql)
        con.execute("SET lock_configuration = true")
        return con.sql(sql).to_arrow_table()
    except duckdb.Error as exc:
        raise explain(exc) or QueryError(f"SQL failed: {first_line(str(exc))}") from None
    finally:
        con.close()


def check_query(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """A QueryError unless `sql` is exactly one query (see the module docstring)."""
    statements = _statements(con, sql)
    if len(statements) != 1:
        what = "no statement" if not statements else f"{len(statements)} statements"
        raise QueryError(f"neo query runs one query at a time; this SQL has {what}")
    kind = _kind(statements[0])
    if kind == "EXPLAIN":
        kinds: set[str | None] = set()
        for inner in _explained(statements[0].query):
            try:
                parsed = con.extract_statements(inner)
            except (duckdb.Error, ValueError):
                continue
            kinds |= {_kind(p) for p in parsed} if len(parsed) == 1 else {"EXPLAIN"}
        if kinds != {"SELECT"}:
            raise QueryError(f"neo query is read-only: it explains queries only ({QUERIES})")
        kind = "SELECT"
    if kind == "COPY":
        raise QueryError(
            "neo query is read-only: COPY writes files; save a result with --output FILE "
            "(--format csv, json or parquet) instead"
        )
    if kind != "SELECT":
        what = f"a {kind} statement" if kind else "this statement"
        raise QueryError(f"neo query is read-only: {what} is refused; it runs queries only ({QUERIES})")


def _statements(con: duckdb.DuckDBPyConnection, sql: str) -> list[duckdb.Statement]:
    try:
        return con.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(f"SQL failed: {first_line(str(exc))}") from None


def _kind(statement: duckdb.Statement) -> str | None:
    """The statement's type as DuckDB names it (SELECT, COPY...); None for a type the Python module
    has no name for (UPDATE EXTENSIONS on DuckDB 2.0)."""
    try:
        return str(statement.type.name)
    except ValueError:
        return None


def _explained(sql: str) -> list[str]:
    """What an `EXPLAIN [ANALYZE] [(options)] ...` may plan (and, with ANALYZE, run): the text after
    EXPLAIN, after ANALYZE and after a parenthesised group, since `(` may open options or a query.
    Tokens come from DuckDB's own tokenizer, so comments cannot hide a statement."""
    found = duckdb.tokenize(sql)
    ends = [pos for pos, _ in found[1:]] + [len(sql)]
    spans = [(a, b) for (a, kind), b in zip(found, ends, strict=True) if kind != duckdb.token_type.comment]
    tokens = [a for a, _ in spans]
    words = [sql[a:b].strip().upper() for a, b in spans]
    starts = [1]  # words[0] is EXPLAIN
    if len(words) > 1 and words[1] in ("ANALYZE", "ANALYSE"):
        starts.append(2)
    i, depth = starts[-1], 0
    if i < len(words) and words[i].startswith("("):
        while i < len(words):
            depth += words[i].count("(") - words[i].count(")")
            i += 1
            if depth <= 0:
                starts.append(i)
                break
    return [sql[tokens[i] :] for i in starts if i < len(tokens)]
