"""Download -> process -> write, one request at a time (the queues in the next stage split these steps)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from neo.core.errors import SchemaError
from neo.datasets import DatasetSpec
from neo.lake.ledger import Ledger
from neo.lake.writer import ParquetWriter, WriteResult
from neo.pipeline.batch import Batch
from neo.pipeline.processor import ProcessStats, SimpleDataProcessor
from neo.sources.tushare import TushareClient


def download(client: TushareClient, spec: DatasetSpec, params: dict[str, Any] | None = None) -> Batch:
    """One batch of `spec`: every field (non-default ones too), paged past the row cap.
    A snapshot makes all its calls (e.g. every list_status) and becomes one batch.

    Values that do not fit the declared types travel as they came: `store` keeps such a reply
    under rejected/ rather than lose it here."""
    params = params or {}
    tables = [
        client.query(spec.api, {**call, **params}, spec.field_names, strict=False)
        for call in spec.snapshot_calls
    ]
    return Batch(spec.name, _concat(tables), params)


def _concat(tables: list[pa.Table]) -> pa.Table:
    if len(tables) == 1:
        return tables[0]
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # one call's column kept as text: all as text
        return pa.concat_tables(
            [t.cast(pa.schema([pa.field(f.name, pa.string()) for f in t.schema])) for t in tables],
            promote_options="permissive",
        )


@dataclass
class StoreResult:
    write: WriteResult
    stats: ProcessStats
    process_cpu: float  # CPU seconds of this thread spent cleaning and typing
    write_cpu: float  # ... and writing
    problem: str | None = None  # rows kept out of the lake: how many, why, and where they are kept

    def record(self, ledger: Ledger, dataset: str, params: dict[str, Any]) -> None:
        """Mark the request in the ledger, once its files are durable: done, or failed when rows
        were kept out (so that `neo status` and `neo report` show it, and `neo download` exits 1;
        `--retry-failed` downloads it again)."""
        if self.problem is None:
            ledger.done(dataset, params, self.stats.rows_out)
        else:
            ledger.failed(dataset, params, self.problem)


def store(
    batch: Batch, spec: DatasetSpec, processor: SimpleDataProcessor, writer: ParquetWriter
) -> StoreResult:
    """What the slow queue does with a batch: clean and type it, then write it durably.

    A batch that cannot be typed is kept under rejected/ and raised as a one-line SchemaError that
    names the column, a sample value and the kept file. Rows the processor keeps out are kept there
    too, after the rest is written, and named in the result's `problem`."""
    t0 = time.thread_time()
    try:
        table, stats = processor.process(batch.table, spec)
        t1 = time.thread_time()
        written = writer.write(table, spec, batch_id=batch.batch_id, fetched_at=batch.fetched_at)
    except SchemaError as exc:
        kept = writer.reject(
            batch.table, spec, batch.params, str(exc), batch_id=batch.batch_id, fetched_at=batch.fetched_at
        )
        raise SchemaError(f"{exc}; the reply is kept in {kept}") from None
    result = StoreResult(written, stats, t1 - t0, time.thread_time() - t1)
    if stats.rejected:
        reason = "; ".join(why for why, _ in stats.rejected)
        rows = pa.concat_tables([t for _, t in stats.rejected])
        kept = writer.reject(
            rows, spec, batch.params, reason, batch_id=batch.batch_id, fetched_at=batch.fetched_at
        )
        result.problem = f"{spec.name}: {reason}; kept in {kept}"
    return result
