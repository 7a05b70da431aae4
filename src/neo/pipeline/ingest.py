"""Download -> process -> write, one request at a time (the queues in the next stage split these steps)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from neo.datasets import DatasetSpec
from neo.lake.writer import ParquetWriter, WriteResult
from neo.pipeline.batch import Batch
from neo.pipeline.processor import ProcessStats, SimpleDataProcessor
from neo.sources.tushare import TushareClient


def download(client: TushareClient, spec: DatasetSpec, params: dict[str, Any] | None = None) -> Batch:
    """One batch of `spec`: every field (non-default ones too), paged past the row cap.
    A snapshot makes all its calls (e.g. every list_status) and becomes one batch."""
    params = params or {}
    tables = [client.query(spec.api, {**call, **params}, spec.field_names) for call in spec.snapshot_calls]
    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="permissive")
    return Batch(spec.name, table, params)


@dataclass
class StoreResult:
    write: WriteResult
    stats: ProcessStats
    process_cpu: float  # CPU seconds of this thread spent cleaning and typing
    write_cpu: float  # ... and writing


def store(
    batch: Batch, spec: DatasetSpec, processor: SimpleDataProcessor, writer: ParquetWriter
) -> StoreResult:
    """What the slow queue does with a batch: clean and type it, then write it durably."""
    t0 = time.thread_time()
    table, stats = processor.process(batch.table, spec)
    t1 = time.thread_time()
    written = writer.write(table, spec, batch_id=batch.batch_id, fetched_at=batch.fetched_at)
    return StoreResult(written, stats, t1 - t0, time.thread_time() - t1)
