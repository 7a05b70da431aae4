"""Where things live in the lake. One place for the layout rules that writer, catalog and readers share.

    parquet/<dataset>/year=YYYY/<stamp>-<batch>.parquet   datasets with a date column
    parquet/<dataset>/<stamp>-<batch>.parquet             snapshots (one file per generation)
    parquet/<dataset>/_empty.parquet                      zero rows, the declared schema: keeps the
                                                          glob matching before the first batch
Temporary files are `.<name>.tmp` in the target directory, so no reader's glob ever matches them.
Every file carries FETCHED_AT, when its batch was downloaded: views keep the newest row per key.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pyarrow as pa

from neo.datasets import DatasetSpec, Strategy

FETCHED_AT = "_fetched_at"
FETCHED_AT_TYPE = pa.timestamp("us", tz="UTC")
PLACEHOLDER = "_empty.parquet"


def is_snapshot(spec: DatasetSpec) -> bool:
    return spec.strategy is Strategy.SNAPSHOT


def is_partitioned(spec: DatasetSpec) -> bool:
    return spec.date_column is not None and not is_snapshot(spec)


def file_schema(spec: DatasetSpec) -> pa.Schema:
    """The schema of every data file of a dataset: the declared fields, then FETCHED_AT."""
    return spec.schema.append(pa.field(FETCHED_AT, FETCHED_AT_TYPE))


def dataset_dir(lake: Path, spec: DatasetSpec) -> Path:
    return lake / spec.name


def partition_dir(lake: Path, spec: DatasetSpec, year: int | None) -> Path:
    base = dataset_dir(lake, spec)
    return base / f"year={year}" if year is not None else base


def glob(lake: Path, spec: DatasetSpec) -> str:
    """Absolute glob of every data file (and the placeholder) of a dataset."""
    return str(dataset_dir(lake.resolve(), spec) / "**" / "*.parquet")


def file_name(fetched_at: datetime, batch_id: str) -> str:
    """Unique across processes and machines (batch ids are random), and the same for a retried batch."""
    return f"{fetched_at:%Y%m%dT%H%M%S%f}-{batch_id}.parquet"


def temp_path(final: Path) -> Path:
    return final.with_name(f".{final.name}.{os.getpid()}.tmp")
