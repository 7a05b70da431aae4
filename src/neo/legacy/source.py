"""Reading the legacy DuckDB database the lake replaces, for `neo migrate` and `neo verify --legacy`.

The old write path kept one table per dataset with a PRIMARY KEY and upserted every download with
INSERT ... ON CONFLICT DO UPDATE, so a legacy table holds the latest downloaded row per key. Its
columns need not match the dataset spec: dates may be 'YYYYMMDD' text or TIMESTAMP, numbers DECIMAL
or text, some columns extra or missing. `LegacyTable.select_sql` casts them to the spec's types in
SQL, and both migrate (which writes what it selects) and verify (which compares what it selects) read
the legacy table through it, so a value is converted the same way on both paths.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from neo.core.config import Settings
from neo.core.errors import SchemaError, UsageError, first_line
from neo.datasets import DATASETS, DatasetSpec, get
from neo.lake import engine
from neo.lake.engine import lit, q

ALIAS = "neo_legacy"  # the attached legacy database; unlike `legacy` it cannot shadow a dataset view
DATE_FORMATS = "['%Y%m%d', '%Y-%m-%d']"
DUCKDB_MAGIC = b"DUCK"  # bytes 8..12 of every DuckDB database file
_INTEGER_TYPES = {
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
}


def duckdb_type(t: pa.DataType) -> str:
    """The DuckDB type of a declared Arrow type (what the lake's Parquet files read as)."""
    if t == pa.date32():
        return "DATE"
    if pa.types.is_floating(t):
        return "DOUBLE"
    if pa.types.is_integer(t):
        return "BIGINT"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "VARCHAR"
    raise SchemaError(f"no DuckDB type for declared type {t}")


def cast_sql(column: str, legacy_type: str, target: pa.DataType) -> str:
    """SQL reading one legacy column as its declared type, accepting what the old upsert stored.

    Like spec.cast_array: text is trimmed and '' is NULL for non-text targets; dates may be text or
    integers in YYYYMMDD (or YYYY-MM-DD) form. NaN becomes NULL, as a download never carries NaN
    (JSON has none) and pandas-era upserts stored NaN for missing numbers. A value that cannot be
    converted makes the query fail rather than turn NULL silently.
    """
    src = q(column)
    lt = legacy_type.upper()
    text = lt == "VARCHAR" or lt.startswith("VARCHAR(")
    trimmed = f"NULLIF(trim({src}), '')" if text else src
    if target == pa.date32():
        if lt == "DATE":
            return src
        if text:
            return f"CAST(strptime({trimmed}, {DATE_FORMATS}) AS DATE)"
        if lt in _INTEGER_TYPES:
            return f"CAST(strptime(CAST({src} AS VARCHAR), '%Y%m%d') AS DATE)"
        return f"CAST({src} AS DATE)"
    if pa.types.is_floating(target):
        return f"NULLIF(CAST({trimmed} AS DOUBLE), 'NaN'::DOUBLE)"
    if pa.types.is_integer(target):
        return f"CAST({trimmed} AS BIGINT)"
    if pa.types.is_string(target):
        return src if text else f"CAST({src} AS VARCHAR)"
    raise SchemaError(f"no conversion to declared type {target}")


# --- opening a legacy database ------------------------------------------------------------------


def check_file(path: Path) -> None:
    """A one-line UsageError unless `path` is an existing DuckDB database file."""
    if not path.exists():
        raise UsageError(f"{path}: no such file")
    if not path.is_file():
        raise UsageError(f"{path} is not a file")
    try:
        with open(path, "rb") as f:
            header = f.read(12)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    if header[8:12] != DUCKDB_MAGIC:
        raise UsageError(f"{path} is not a DuckDB database file")


def attach(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Attach the legacy database read-only as ALIAS: it is read, never changed."""
    check_file(path)
    try:
        con.execute(f"ATTACH {lit(str(path.resolve()))} AS {ALIAS} (READ_ONLY)")
    except duckdb.Error as exc:
        raise UsageError(f"cannot open {path}: {first_line(exc)}") from None


def open_legacy(path: Path, settings: Settings) -> duckdb.DuckDBPyConnection:
    con = engine.connect(settings)
    try:
        attach(con, path)
    except BaseException:
        con.close()
        raise
    return con


# --- legacy tables as datasets --------------------------------------------------------------------


@dataclass(frozen=True)
class LegacyTable:
    """A legacy table read as a dataset: which legacy column feeds each declared field."""

    spec: DatasetSpec
    name: str  # as the legacy database names it: `daily`, or `schema.table` outside main
    sql_name: str  # quoted and qualified for SQL on a connection with the legacy DB attached
    columns: dict[str, tuple[str, str]]  # declared field -> (legacy column, legacy type)
    ignored: tuple[str, ...] = ()  # legacy columns the spec does not declare
    unique_key: bool = False  # a PRIMARY KEY or UNIQUE constraint already makes the spec's key unique

    @property
    def missing(self) -> list[str]:
        """Declared fields the legacy table lacks: they read as NULL."""
        return [f.name for f in self.spec.fields if f.name not in self.columns]

    def select_sql(self) -> str:
        """The legacy rows with exactly the declared columns and types."""
        exprs = []
        for f in self.spec.fields:
            if f.name in self.columns:
                column, legacy_type = self.columns[f.name]
                exprs.append(f"{cast_sql(column, legacy_type, f.type)} AS {q(f.name)}")
            else:
                exprs.append(f"CAST(NULL AS {duckdb_type(f.type)}) AS {q(f.name)}")
        return f"SELECT {', '.join(exprs)} FROM {self.sql_name}"


@dataclass
class Mapping:
    tables: list[LegacyTable] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # legacy tables no dataset maps to
    absent: list[str] = field(default_factory=list)  # datasets with no table in the legacy DB


def find_tables(
    con: duckdb.DuckDBPyConnection, settings: Settings, datasets: list[str] | None = None
) -> Mapping:
    """Match the attached legacy tables to datasets: a table named like the dataset, or the one the
    `legacy_tables` setting names. Datasets asked for by name must have a table."""
    for name in settings.legacy_tables:
        if name not in DATASETS:
            raise UsageError(f"legacy_tables names an unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    wanted = list(dict.fromkeys(get(d).name for d in datasets)) if datasets else list(DATASETS)
    found: dict[str, tuple[str, str, str]] = {}  # lower-case display name -> (display, schema, table)
    for schema, table in con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = ? "
        "ORDER BY schema_name, table_name",
        [ALIAS],
    ).fetchall():
        display = table if schema == "main" else f"{schema}.{table}"
        found.setdefault(display.lower(), (display, schema, table))
    table_of = {name: settings.legacy_tables.get(name, name).lower() for name in DATASETS}
    claimed = set(table_of.values())
    out = Mapping(unknown=[display for key, (display, _, _) in found.items() if key not in claimed])
    for name in wanted:
        hit = found.get(table_of[name])
        if hit is None:
            if datasets:
                raise UsageError(
                    f"the legacy database has no table {table_of[name]!r} for dataset {name} "
                    "(map it with the legacy_tables setting)"
                )
            out.absent.append(name)
            continue
        out.tables.append(_table(con, get(name), *hit))
    if not out.tables:
        tables = ", ".join(display for display, _, _ in found.values()) or "none"
        raise UsageError(
            f"the legacy database has no table of any dataset neo knows (its tables: {tables}); "
            "name them with the legacy_tables setting"
        )
    return out


def _table(
    con: duckdb.DuckDBPyConnection, spec: DatasetSpec, display: str, schema: str, table: str
) -> LegacyTable:
    cols = con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() "
        "WHERE database_name = ? AND schema_name = ? AND table_name = ? ORDER BY column_index",
        [ALIAS, schema, table],
    ).fetchall()
    by_lower = {c.lower(): (c, t) for c, t in cols}
    declared = {f.name.lower() for f in spec.fields}
    columns = {f.name: by_lower[f.name.lower()] for f in spec.fields if f.name.lower() in by_lower}
    dated = [spec.date_column] if spec.date_column and spec.date_column not in spec.key else []
    lacking = [k for k in (*spec.key, *dated) if k not in columns]
    if lacking:
        raise UsageError(
            f"legacy table {display!r} lacks {', '.join(lacking)} of dataset {spec.name} "
            f"(key: {', '.join(spec.key)}), so its rows cannot be keyed"
        )
    key_lower = {columns[k][0].lower() for k in spec.key}
    unique = any(
        {c.lower() for c in cols_} <= key_lower
        for (cols_,) in con.execute(
            "SELECT constraint_column_names FROM duckdb_constraints() WHERE database_name = ? "
            "AND schema_name = ? AND table_name = ? AND constraint_type IN ('PRIMARY KEY', 'UNIQUE')",
            [ALIAS, schema, table],
        ).fetchall()
    )
    return LegacyTable(
        spec=spec,
        name=display,
        sql_name=f"{ALIAS}.{q(schema)}.{q(table)}",
        columns=columns,
        ignored=tuple(c for c, _ in cols if c.lower() not in declared),
        unique_key=unique,
    )


def repeated_keys(con: duckdb.DuckDBPyConnection, table: LegacyTable) -> int:
    """How many keys occur more than once (0 without a scan when a constraint rules it out)."""
    if table.unique_key:
        return 0
    key = ", ".join(q(k) for k in table.spec.key)
    sql = f"SELECT count(*) FROM (SELECT 1 FROM ({table.select_sql()}) GROUP BY {key} HAVING count(*) > 1)"
    with reading(table):
        row = engine.first_row(con, sql)
    return int(row[0]) if row else 0


@contextmanager
def reading(table: LegacyTable) -> Iterator[None]:
    """Around SQL over a legacy table: a value that does not convert becomes a one-line SchemaError."""
    try:
        yield
    except (duckdb.ConversionException, duckdb.InvalidInputException) as exc:
        raise SchemaError(
            f"legacy table {table.name!r}: a value does not fit dataset {table.spec.name}'s declared "
            f"types: {first_line(exc)}"
        ) from None
