"""ParquetWriter: typed, sorted, atomic Parquet files in the lake.

Every batch is cast to its dataset's declared schema (so any engine reads the union of the files
without casts), sorted by the dataset's key, split by the year of its date column and written as
`g<generation>-<stamp>-<batch>.parquet` through a temporary name, fsync and rename: a reader sees a
whole file or none. A retried batch keeps its batch id and so its file names, and replaces its own
files rather than adding a second copy (a copy in an older generation holds the same rows with the
same download time, which the views and compaction count once). A reply that cannot be cast is
kept under `rejected/<dataset>/` by `reject`, with the request and the reason.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from neo.core.errors import SchemaError
from neo.datasets import DatasetSpec
from neo.lake import layout, manifest

log = logging.getLogger("neo.writer")

COMPRESSION = "zstd"


@dataclass
class WriteResult:
    dataset: str
    rows: int = 0
    files: list[Path] = field(default_factory=list)


class ParquetWriter:
    def __init__(self, lake: Path, rejected: Path, *, fsync: bool = True) -> None:
        self.lake = lake
        self.rejected = rejected
        self.fsync = fsync
        self._placed: set[tuple[str, int]] = set()

    def write(
        self, table: pa.Table, spec: DatasetSpec, *, batch_id: str, fetched_at: datetime
    ) -> WriteResult:
        """Write one batch. `fetched_at` (timezone-aware) is when it was downloaded. A batch that
        cannot be cast is a SchemaError before any file is written."""
        typed = spec.conform(table)
        stamp = pa.repeat(pa.scalar(fetched_at, layout.FETCHED_AT_TYPE), typed.num_rows)
        typed = typed.append_column(pa.field(layout.FETCHED_AT, layout.FETCHED_AT_TYPE), stamp)
        result = WriteResult(spec.name)
        parts = self._partitions(typed, spec)
        with manifest.writing(self.lake, spec) as generation:
            name = layout.fresh_name(generation, fetched_at, batch_id)
            for year, part in parts:
                path = layout.partition_dir(self.lake, spec, year) / name
                self.write_file(_sorted(part, spec.key), path)
                result.files.append(path)
                result.rows += part.num_rows
        return result

    def _partitions(self, table: pa.Table, spec: DatasetSpec) -> list[tuple[int | None, pa.Table]]:
        if table.num_rows == 0:
            # A day, or a stock's history, with no rows needs no file: the ledger records that its
            # call returned none. (A snapshot's view shows its newest rows, which an empty file
            # would not change.)
            return []
        if not layout.is_partitioned(spec) or spec.date_column is None:
            return [(None, table)]
        years = pc.year(table.column(spec.date_column))
        if years.null_count:
            raise SchemaError(f"{spec.name}: {years.null_count} rows have no {spec.date_column}")
        distinct = sorted(pc.unique(years).to_pylist())
        if len(distinct) == 1:  # the usual batch: one day or one period
            return [(distinct[0], table)]
        return [(y, table.filter(pc.equal(years, y))) for y in distinct]

    def write_file(self, table: pa.Table, path: Path) -> None:
        # A path, not a Python file object: pyarrow then writes natively, without the GIL per write.
        self._atomically(
            path,
            lambda tmp: pq.write_table(
                table, str(tmp), compression=COMPRESSION, use_dictionary=dictionary_columns(table.schema)
            ),
        )

    def _atomically(self, path: Path, write: Callable[[Path], object]) -> None:
        """`write` the file under a temporary name, fsync it, rename it into place, fsync the
        directory: readers see the whole file or none."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = layout.temp_path(path)
        try:
            write(tmp)
            if self.fsync:
                layout.fsync(tmp)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        if self.fsync:
            layout.fsync(path.parent)

    def ensure_placeholder(self, spec: DatasetSpec, generation: int) -> None:
        """A zero-row file with the declared schema, so the generation's glob always matches."""
        if (spec.name, generation) in self._placed:
            return
        path = layout.dataset_dir(self.lake, spec) / layout.placeholder_name(generation)
        if not path.exists():
            self.write_file(layout.file_schema(spec).empty_table(), path)
        self._placed.add((spec.name, generation))

    def reject(
        self,
        table: pa.Table,
        spec: DatasetSpec,
        request: dict[str, Any],
        reason: str,
        *,
        batch_id: str,
        fetched_at: datetime,
    ) -> Path:
        """Keep a reply that cannot be written, or the rows of one that cannot, as JSON in Tushare's
        own shape (fields + items) with the request and the reason, so it can be read with any tool
        and nothing downloaded is lost."""
        path = self.rejected / spec.name / layout.rejected_name(fetched_at, batch_id)
        doc = {
            "dataset": spec.name,
            "api": spec.api,
            "request": request,
            "reason": reason,
            "batch_id": batch_id,
            "fetched_at": fetched_at.isoformat(),
            "fields": table.column_names,
            "items": [list(row.values()) for row in table.to_pylist()],
        }
        data = orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)
        self._atomically(path, lambda tmp: tmp.write_bytes(data))
        log.error("%s %s: %s; kept in %s", spec.name, request, reason, path)
        return path


def dictionary_columns(schema: pa.Schema) -> list[str]:
    """Dictionary-encode codes, dates and flags, not numbers: prices rarely repeat, and trying
    costs a third of the write and makes files larger."""
    return [f.name for f in schema if not pa.types.is_floating(f.type)]


def _sorted(table: pa.Table, key: tuple[str, ...]) -> pa.Table:
    """Sorted by key. A strictly increasing first key column (one day of a whole market, as the
    server sends it) already is, and skipping the sort saves a tenth of the write."""
    first = table.column(key[0])
    if table.num_rows < 2 or (first.null_count == 0 and pc.all(pc.greater(first[1:], first[:-1])).as_py()):
        return table
    return table.sort_by([(k, "ascending") for k in key])
