"""SimpleDataProcessor: the cleaning and typing step between a downloaded batch and the writer.

No row the source sent is dropped silently. A null in a key column is a value of the key (the
views, compaction and verify group keys NULL-safely), so a statement version without f_ann_date is
stored like any other. A row is kept out of the lake only when it cannot be stored or would
overwrite another: it has no value in the dataset's placing date (`DatasetSpec.required`), or it
repeats the key of an earlier row of the same reply with other values (the first is stored). Such
rows come back in `ProcessStats.rejected`, with the reason; the caller keeps them under rejected/
and records the request as failed, which `neo status` and `neo report` show. Rows identical to
another row of the reply, and namechange's null twins (NOTES.md: a period repeated with end_date
null), hold nothing the stored row does not, and go.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from neo.datasets import DatasetSpec

log = logging.getLogger("neo.processor")


@dataclass
class ProcessStats:
    rows_in: int = 0
    twin_rows: int = 0  # null twins of another row (spec.null_twin)
    copies: int = 0  # rows identical to another row of the reply
    rejected: list[tuple[str, pa.Table]] = field(default_factory=list)  # why, and the rows

    @property
    def rejected_rows(self) -> int:
        return sum(t.num_rows for _, t in self.rejected)

    @property
    def rows_out(self) -> int:
        return self.rows_in - self.twin_rows - self.copies - self.rejected_rows


class SimpleDataProcessor:
    """Types a batch by its spec and keeps one row per key (the first the server sent: replies come
    newest first); see the module docstring for the rows it keeps out."""

    def process(self, table: pa.Table, spec: DatasetSpec) -> tuple[pa.Table, ProcessStats]:
        stats = ProcessStats(rows_in=table.num_rows)
        typed = spec.conform(table)
        kept = spec.drop_null_twins(typed)
        stats.twin_rows = typed.num_rows - kept.num_rows
        if spec.required is not None and kept.column(spec.required).null_count:
            placed = pc.is_valid(kept.column(spec.required))
            unplaced = kept.filter(pc.invert(placed))
            stats.rejected.append((f"{_rows(unplaced.num_rows)} no {spec.required}", unplaced))
            kept = kept.filter(placed)
        unique, others = _first_per_key(kept, spec.key)
        if others is not None and others.num_rows:
            stats.rejected.append(
                (
                    f"{_rows(others.num_rows, 'repeats', 'repeat')} the key ({', '.join(spec.key)}) of "
                    "an earlier row of the reply with other values (the earlier one is stored)",
                    others,
                )
            )
        stats.copies = kept.num_rows - unique.num_rows - (others.num_rows if others is not None else 0)
        for why, _ in stats.rejected:
            log.warning("%s: %s", spec.name, why)
        return unique, stats


def _rows(n: int, one: str = "has", many: str = "have") -> str:
    return f"1 row {one}" if n == 1 else f"{n:,} rows {many}"


def _first_per_key(table: pa.Table, key: tuple[str, ...]) -> tuple[pa.Table, pa.Table | None]:
    """The first row of each key, in reply order; and the rows that repeat a key with other values
    than that first row, one of each distinct row (None when no key repeats)."""
    n = table.num_rows
    if n < 2 or any(pc.count_distinct(table.column(k), mode="all").as_py() == n for k in key):
        return table, None  # one key column alone is unique (a day of a market, a stock's minutes)
    rows = pa.array(range(n), pa.int64())
    # Grouping treats nulls as equal to each other, as the views' PARTITION BY does.
    firsts = table.select(list(key)).append_column("__row", rows)
    firsts = firsts.group_by(list(key), use_threads=False).aggregate([("__row", "min")])["__row_min"]
    if len(firsts) == n:
        return table, None
    distinct = table.append_column("__row", rows).group_by(table.column_names, use_threads=False)
    distinct_firsts = distinct.aggregate([("__row", "min")])["__row_min"]
    others = pc.filter(distinct_firsts, pc.invert(pc.is_in(distinct_firsts, value_set=firsts)))
    return table.take(_ascending(firsts)), table.take(_ascending(others))


def _ascending(indices: pa.Array) -> pa.Array:
    return pc.take(indices, pc.sort_indices(indices))
