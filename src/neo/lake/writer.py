"""ParquetWriter: typed, sorted, atomic Parquet files in the lake.

Every batch is cast to its dataset's declared schema (so any engine reads the union of the files
without casts), sorted by the dataset's key, split by the year of its date column and written as
`g<generation>-<stamp>-<batch>.parquet` through a temporary name, fsync and rename: a reader sees a
whole file or none. Then each file is registered in the dataset's manifest (manifest.register)
with its row count and box, which is what makes it live: views list registered files by name. A
retried batch keeps its batch id and so its file names, and replaces its own files rather than
adding a second copy (a copy in an older generation holds the same rows with the same download
time, which the views and compaction count once). A reply that cannot be cast is kept under
`rejected/<dataset>/` by `reject`, with the request and the reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from neo.core import files
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
        base = layout.dataset_dir(self.lake, spec)
        with manifest.writing(self.lake, spec) as generation:
            name = layout.fresh_name(generation, fetched_at, batch_id)
            written = []
            for year, part in parts:
                path = layout.partition_dir(self.lake, spec, year) / name
                self.write_file(_sorted(part, spec.key), path)
                result.files.append(path)
                result.rows += part.num_rows
                rel = path.relative_to(base).as_posix()
                written.append(manifest.LiveFile(rel, part.num_rows, fetched_at.isoformat(), box(part, spec)))
            manifest.register(self.lake, spec, generation, written, durable=self.fsync)
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
        files.replace_atomically(
            path,
            lambda tmp: pq.write_table(
                table, str(tmp), compression=COMPRESSION, use_dictionary=dictionary_columns(table.schema)
            ),
            durable=self.fsync,
        )

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
        files.write_atomically(path, data, durable=self.fsync)
        log.error("%s %s: %s; kept in %s", spec.name, request, reason, path)
        return path


def box(table: pa.Table, spec: DatasetSpec) -> manifest.Box | None:
    """The range of the rows on the date column and the first other key column (manifest.Box);
    None for a dataset without dates, or rows without them."""
    if spec.date_column is None or table.num_rows == 0 or table.column(spec.date_column).null_count:
        return None  # a null date may be any date: the file may share a key with any other
    dates = pc.min_max(table.column(spec.date_column)).as_py()
    first = next((k for k in spec.key if k != spec.date_column), None)
    keys = None
    if first is not None and pa.types.is_string(table.schema.field(first).type):
        column = table.column(first)
        bounds = pc.min_max(column).as_py()
        if column.null_count == 0 and bounds["min"] is not None:
            keys = (bounds["min"], bounds["max"])
    return manifest.Box((str(dates["min"]), str(dates["max"])), keys)


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
