"""Every DuckDB connection neo opens, set up in one place.

- Never fetch extensions: a stray SQLite or Postgres file must fail plainly, not trigger a download.
- Spill under the data root, never into the working directory.
- Cache Parquet footers: DuckDB parses every footer again at each query unless told to (checked
  against the file's modification time). Measured on 5,000 stocks x 10 years: a day's
  cross-section 45 -> 28 ms, a point lookup 13.5 -> 10.5 ms. metadata.db cannot carry a setting,
  so only connections made here get it.

neo runs on DuckDB 1.5.6 to 2.x, so this code keeps to the Python API both have: relations lost
fetchone() in 2.0, and a 2.0 result left unread holds its connection (`first_row` reads to the end).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from neo.core.config import Settings


def q(name: str) -> str:
    """A quoted SQL identifier (column names such as `desc` are keywords)."""
    return '"' + name.replace('"', '""') + '"'


def lit(text: str) -> str:
    """A quoted SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def connect(
    settings: Settings,
    database: Path | None = None,
    *,
    read_only: bool = False,
    cache_files: bool = True,
    **config: Any,
) -> duckdb.DuckDBPyConnection:
    """A connection to `database` (in memory when None); `config` adds or overrides settings,
    e.g. compaction's memory_limit and threads. `cache_files=False` for a connection that reads
    each file once (compaction's statements): no footer cache, and no external file cache (DuckDB
    keeps the Parquet data it reads in memory by default), which would only hold memory."""
    options: dict[str, Any] = {
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "temp_directory": str(settings.tmp_dir.resolve()),
        **({} if cache_files else {"enable_external_file_cache": False}),
        **config,
    }
    con = duckdb.connect(str(database) if database else ":memory:", read_only=read_only, config=options)
    if cache_files:
        con.execute("SET GLOBAL parquet_metadata_cache = true")  # for its cursors too
    return con


def first_row(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None
) -> tuple[Any, ...] | None:
    """The first row of `sql` (an aggregate's only row), None when it has none. Reads the whole
    result: on DuckDB 2 a result not read to its end keeps the connection busy, and the next
    `con.sql(...)` on it fails. Only for queries of a row or a few."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0] if rows else None


@dataclass(frozen=True)
class ProfiledOperator:
    name: str  # READ_PARQUET, HASH_JOIN...
    seconds: float
    rows: int  # rows it produced
    info: dict[str, Any]  # DuckDB's extra_info: "Total Files Read", "Join Type"...


def profiled_operators(profile: dict[str, Any]) -> Iterator[ProfiledOperator]:
    """Every operator of a JSON query profile (`PRAGMA enable_profiling = 'json'`, or `EXPLAIN
    (ANALYZE, FORMAT JSON)`), in either layout: DuckDB 1.x nests the operators under `children`
    with `operator_*` keys; 2.x lists them under `operator` with `name`, `timing` and
    `intermediate_rows`."""

    def walk(node: dict[str, Any]) -> Iterator[ProfiledOperator]:
        name = node.get("operator_name") or node.get("name") or node.get("operator_type") or node.get("type")
        seconds = node.get("operator_timing", node.get("timing"))
        rows = node.get("operator_cardinality", node.get("intermediate_rows"))
        info = node.get("extra_info")
        yield ProfiledOperator(
            str(name or "?").strip(),  # 1.4 writes "READ_PARQUET "
            float(seconds or 0),
            int(rows or 0),
            info if isinstance(info, dict) else {},
        )
        for child in node.get("children", []):
            yield from walk(child)

    for top in [*profile.get("children", []), *profile.get("operator", [])]:
        yield from walk(top)


def profile_totals(profile: dict[str, Any]) -> tuple[float, int]:
    """A JSON query profile's latency in seconds and the rows its scans read (1.x or 2.x layout)."""
    query = profile.get("query")
    if isinstance(query, dict):  # 2.x
        return float(query.get("total_time") or 0), int(query.get("total_rows_scanned") or 0)
    return float(profile.get("latency") or 0), int(profile.get("cumulative_rows_scanned") or 0)
