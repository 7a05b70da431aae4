"""`neo verify --legacy`: prove the lake equal to a legacy database.

Against a legacy DB (`--legacy`), per dataset and partition (year of the date column), in DuckDB and
out of core: row counts, the sum of every numeric column, and an order-independent hash of every
row (the sum of the rows' 64-bit hashes over all declared columns, as HUGEINT). Counts and hashes
must match exactly; hashing sees the stored bits of a double, so 0.1 + 0.2 and 0.3 differ. Sums of
doubles depend on the order of addition, so they are Kahan sums compared within 1e-12 of the sum of
absolute values: they show which column changed, while the hash is the proof. Where a partition
differs, a FULL OUTER JOIN on the key lists the first differing keys and the columns that differ.
The legacy side is read through LegacyTable.select_sql, the conversion migrate writes with, and the
lake side is the dataset's deduplicated view (latest download per key).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from neo.core.config import Settings
from neo.datasets import DatasetSpec
from neo.lake import engine
from neo.lake.catalog import dataset_view
from neo.legacy.source import (
    LegacyTable,
    attach,
    find_tables,
    first_line,
    lit,
    q,
    reading,
    repeated_keys,
)

SUM_TOLERANCE = 1e-12  # relative to the sum of absolute values; Kahan sums err by a few 1e-16


@dataclass
class PartitionCompare:
    part: int | None  # year of the date column; None for an undated dataset
    legacy_rows: int
    lake_rows: int
    sums: list[str]  # numeric columns whose sums differ
    hash_equal: bool

    @property
    def equal(self) -> bool:
        return self.legacy_rows == self.lake_rows and not self.sums and self.hash_equal

    @property
    def name(self) -> str:
        return "all" if self.part is None else str(self.part)

    def describe(self) -> str:
        if not self.lake_rows or not self.legacy_rows:
            side = "legacy DB" if self.legacy_rows else "lake"
            return f"only in the {side} ({max(self.legacy_rows, self.lake_rows):,} rows)"
        what = []
        if self.legacy_rows != self.lake_rows:
            what.append(f"rows {self.legacy_rows:,} (legacy) vs {self.lake_rows:,} (lake)")
        if self.sums:
            what.append(f"sums of {', '.join(self.sums)}")
        if not self.hash_equal:
            what.append("row hash")
        return f"differ: {'; '.join(what)}" if what else "equal"


@dataclass
class KeyDiff:
    key: dict[str, Any]
    in_legacy: bool
    in_lake: bool
    columns: list[tuple[str, str | None, str | None]]  # (column, legacy value, lake value)

    def describe(self) -> str:
        key = ", ".join(f"{k}={v}" for k, v in self.key.items())
        if not self.in_lake:
            return f"{key}: only in the legacy DB"
        if not self.in_legacy:
            return f"{key}: only in the lake"
        cols = "; ".join(f"{c} {_show(a)} (legacy) vs {_show(b)} (lake)" for c, a, b in self.columns)
        return f"{key}: {cols}"


@dataclass
class DatasetCompare:
    dataset: str
    table: str
    partitions: list[PartitionCompare] = field(default_factory=list)
    diffs: list[KeyDiff] = field(default_factory=list)  # the first differing keys, in key order
    differing_keys: int = 0  # all differing keys in the differing partitions
    repeated_keys: int = 0  # keys the legacy table holds more than once
    ignored: tuple[str, ...] = ()
    missing: list[str] = field(default_factory=list)
    error: str | None = None  # why the lake side could not be read

    @property
    def equal(self) -> bool:
        return (
            self.error is None
            and all(p.equal for p in self.partitions)
            and not self.repeated_keys
            and not self.differing_keys
        )

    @property
    def legacy_rows(self) -> int:
        return sum(p.legacy_rows for p in self.partitions)

    @property
    def lake_rows(self) -> int:
        return sum(p.lake_rows for p in self.partitions)


@dataclass
class LegacyReport:
    legacy: Path
    datasets: list[DatasetCompare] = field(default_factory=list)
    unknown_tables: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return all(d.equal for d in self.datasets)


def compare_legacy(
    settings: Settings,
    legacy: Path,
    datasets: list[str] | None = None,
    *,
    max_keys: int = 10,
    on_dataset: Callable[[str], None] | None = None,
) -> LegacyReport:
    """Compare each legacy table with its dataset in the lake (all mapped tables, or `datasets`);
    `on_dataset` is told of each dataset before its comparison starts."""
    con = engine.connect(settings)
    try:
        attach(con, legacy)
        mapping = find_tables(con, settings, datasets)
        report = LegacyReport(legacy, unknown_tables=mapping.unknown, absent=mapping.absent)
        for table in mapping.tables:
            if on_dataset:
                on_dataset(table.spec.name)
            report.datasets.append(_compare(con, settings, table, max_keys))
    finally:
        con.close()
    return report


def _compare(
    con: duckdb.DuckDBPyConnection, settings: Settings, table: LegacyTable, max_keys: int
) -> DatasetCompare:
    spec = table.spec
    out = DatasetCompare(spec.name, table.name, ignored=table.ignored, missing=table.missing)
    legacy_rel = table.select_sql()
    lake_rel = f"SELECT {_columns(spec)} FROM {q(spec.name)}"
    with reading(table):
        legacy = _aggregates(con, spec, legacy_rel)
        out.repeated_keys = repeated_keys(con, table)
    try:
        # The dataset's own view, not open_lake's: a bad file of another dataset must not stop this one.
        con.execute(f"CREATE OR REPLACE VIEW {q(spec.name)} AS {dataset_view(settings.lake_dir, spec)}")
        lake = _aggregates(con, spec, lake_rel)
    except duckdb.Error as exc:
        out.error = f"the lake's files cannot be read: {first_line(exc)} (see `neo verify {spec.name}`)"
        return out
    numeric = _numeric(spec)
    for part in sorted(legacy.keys() | lake.keys(), key=lambda p: -1 if p is None else p):
        a, b = legacy.get(part), lake.get(part)
        sums = [c for i, c in enumerate(numeric) if not _sums_equal(a, b, i)]
        out.partitions.append(
            PartitionCompare(
                part,
                a[0] if a else 0,
                b[0] if b else 0,
                sums,
                (a[1] if a else 0) == (b[1] if b else 0),
            )
        )
    differing = [p.part for p in out.partitions if not p.equal]
    if differing:
        with reading(table):
            out.diffs, out.differing_keys = _key_diffs(con, spec, legacy_rel, lake_rel, differing, max_keys)
    return out


def _columns(spec: DatasetSpec) -> str:
    return ", ".join(q(f.name) for f in spec.fields)


def _numeric(spec: DatasetSpec) -> list[str]:
    return [f.name for f in spec.fields if pa.types.is_floating(f.type) or pa.types.is_integer(f.type)]


def _part(spec: DatasetSpec) -> str:
    if spec.date_column is None:
        return "CAST(NULL AS INTEGER)"
    return f"year({q(spec.date_column)})"


def _aggregates(con: duckdb.DuckDBPyConnection, spec: DatasetSpec, rel: str) -> dict[int | None, tuple]:
    """Per partition: count, hash sum, then (sum, sum of absolute values) per numeric column."""
    aggs = ["count(*)", f"sum(CAST(hash({_columns(spec)}) AS HUGEINT))"]
    for c in _numeric(spec):
        aggs += [f"fsum({q(c)})", f"fsum(abs({q(c)}))"]
    sql = f"SELECT {_part(spec)} AS __part, {', '.join(aggs)} FROM ({rel}) GROUP BY 1"
    return {row[0]: tuple(row[1:]) for row in con.execute(sql).fetchall()}


def _sums_equal(a: tuple | None, b: tuple | None, i: int) -> bool:
    sa, aa = (a[2 + 2 * i], a[3 + 2 * i]) if a else (None, None)
    sb, ab = (b[2 + 2 * i], b[3 + 2 * i]) if b else (None, None)
    if sa is None or sb is None:
        return sa is None and sb is None
    return abs(sa - sb) <= SUM_TOLERANCE * max(aa or 0.0, ab or 0.0)


def _key_diffs(
    con: duckdb.DuckDBPyConnection,
    spec: DatasetSpec,
    legacy_rel: str,
    lake_rel: str,
    parts: list[int | None],
    limit: int,
) -> tuple[list[KeyDiff], int]:
    """The first `limit` differing keys of the given partitions (key order), and how many differ."""
    years = [p for p in parts if p is not None]
    conds = [f"{_part(spec)} IN ({', '.join(map(str, years))})"] if years else []
    if None in parts and spec.date_column is not None:
        conds.append(f"{_part(spec)} IS NULL")
    where = f"WHERE {' OR '.join(conds)}" if conds else ""
    keys = list(spec.key)
    others = [f.name for f in spec.fields if f.name not in spec.key]
    on = " AND ".join(f"a.{q(k)} IS NOT DISTINCT FROM b.{q(k)}" for k in keys)
    changed = [f"a.{q(c)} IS DISTINCT FROM b.{q(c)}" for c in others]
    cells = ", ".join(
        f"CASE WHEN a.{q(c)} IS DISTINCT FROM b.{q(c)} THEN "
        f"[{lit(c)}, CAST(a.{q(c)} AS VARCHAR), CAST(b.{q(c)} AS VARCHAR)] END"
        for c in others
    )
    columns = f"list_filter([{cells}], lambda x: x IS NOT NULL)" if others else "[]"
    sql = (
        f"SELECT {', '.join(f'coalesce(a.{q(k)}, b.{q(k)})' for k in keys)}, "
        f"a.__in IS NOT NULL, b.__in IS NOT NULL, {columns}, count(*) OVER () "
        f"FROM (SELECT *, true AS __in FROM ({legacy_rel}) {where}) a "
        f"FULL OUTER JOIN (SELECT *, true AS __in FROM ({lake_rel}) {where}) b ON {on} "
        f"WHERE {' OR '.join(['a.__in IS NULL', 'b.__in IS NULL', *changed])} "
        f"ORDER BY {', '.join(str(i + 1) for i in range(len(keys)))} LIMIT {int(limit)}"
    )
    rows = con.execute(sql).fetchall()
    n = len(keys)
    diffs = [
        KeyDiff(
            dict(zip(keys, r[:n], strict=True)),
            bool(r[n]),
            bool(r[n + 1]),
            [(c[0], c[1], c[2]) for c in r[n + 2]],
        )
        for r in rows
    ]
    return diffs, (int(rows[0][-1]) if rows else 0)


def _show(value: str | None) -> str:
    return "NULL" if value is None else value
