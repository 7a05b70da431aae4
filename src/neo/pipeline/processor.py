"""SimpleDataProcessor: the cleaning and typing step between a downloaded batch and the writer."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from neo.datasets import DatasetSpec

log = logging.getLogger("neo.processor")


@dataclass
class ProcessStats:
    rows_in: int = 0
    null_key_rows: int = 0
    duplicate_rows: int = 0

    @property
    def rows_out(self) -> int:
        return self.rows_in - self.null_key_rows - self.duplicate_rows


class SimpleDataProcessor:
    """Types a batch by its spec, drops rows whose key has a null (counted, with a warning) and keeps
    one row per key within the batch (the first the server sent: replies come newest first)."""

    def process(self, table: pa.Table, spec: DatasetSpec) -> tuple[pa.Table, ProcessStats]:
        stats = ProcessStats(rows_in=table.num_rows)
        typed = spec.drop_null_twins(spec.conform(table))
        valid = functools.reduce(pc.and_kleene, (pc.is_valid(typed[k]) for k in spec.key))
        kept = typed if pc.all(valid).as_py() is not False else typed.filter(valid)
        stats.null_key_rows = typed.num_rows - kept.num_rows
        if stats.null_key_rows:
            log.warning(
                "%s: dropped %d rows with a null in the key (%s)",
                spec.name,
                stats.null_key_rows,
                ", ".join(spec.key),
            )
        unique = _first_per_key(kept, spec.key)
        stats.duplicate_rows = kept.num_rows - unique.num_rows
        if stats.duplicate_rows:
            log.warning(
                "%s: dropped %d rows repeating a key within one reply", spec.name, stats.duplicate_rows
            )
        return unique, stats


def _first_per_key(table: pa.Table, key: tuple[str, ...]) -> pa.Table:
    first = table.column(key[0])
    if table.num_rows < 2 or pc.count_distinct(first).as_py() == table.num_rows:
        return table  # the first key column alone is unique (e.g. one day of a market)
    with_index = table.select(list(key)).append_column("__row", pa.array(range(table.num_rows), pa.int64()))
    firsts = with_index.group_by(list(key), use_threads=False).aggregate([("__row", "min")])
    if firsts.num_rows == table.num_rows:
        return table
    rows = firsts["__row_min"]
    return table.take(pc.take(rows, pc.sort_indices(rows)))
