"""Writing a legacy database the way the old DBOperator.upsert did: one table per dataset with the
spec's key as PRIMARY KEY, every download upserted (latest wins). neo never writes one itself; tests
and benchmarks build the legacy databases they compare the lake against with it."""

from __future__ import annotations

import functools

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from neo.datasets import DatasetSpec
from neo.legacy.source import duckdb_type, q


def create_table(con: duckdb.DuckDBPyConnection, spec: DatasetSpec, table: str | None = None) -> None:
    """The table DBOperator created: the declared columns, the spec's key as PRIMARY KEY."""
    cols = ", ".join(f"{q(f.name)} {duckdb_type(f.type)}" for f in spec.fields)
    key = ", ".join(q(k) for k in spec.key)
    con.execute(f"CREATE TABLE IF NOT EXISTS {q(table or spec.name)} ({cols}, PRIMARY KEY ({key}))")


def upsert(
    con: duckdb.DuckDBPyConnection, spec: DatasetSpec, batch: pa.Table, table: str | None = None
) -> None:
    """DBOperator.upsert: insert a downloaded batch, replacing the rows whose key exists (latest wins).
    The batch must hold each key once, as processed batches do."""
    update = ", ".join(f"{q(f.name)} = excluded.{q(f.name)}" for f in spec.fields if f.name not in spec.key)
    typed = spec.conform(batch)
    # A PRIMARY KEY column is NOT NULL: the old table never held a row with a null in its key (a
    # statement without f_ann_date), which the lake keeps.
    keyed = functools.reduce(pc.and_kleene, (pc.is_valid(typed[k]) for k in spec.key))
    con.register("__neo_batch", typed.filter(keyed))
    try:
        con.execute(
            f"INSERT INTO {q(table or spec.name)} SELECT * FROM __neo_batch "
            f"ON CONFLICT DO UPDATE SET {update}"
        )
    finally:
        con.unregister("__neo_batch")
