"""Where things live in the lake. One place for the layout rules that writer, catalog and readers share.

    parquet/<dataset>/year=YYYY/g<gen>-<stamp>-<batch>.parquet   fresh files, written by ingestion
    parquet/<dataset>/year=YYYY/c<version>-<token>-<n>.parquet   compacted files, written by compaction
    parquet/<dataset>/_manifest.json                             the state: compacted files, generations
    parquet/<dataset>/_fresh/g<gen>.jsonl                        the fresh files of each generation
                                                                 (see manifest.py)

Snapshots (no date column) have no year=YYYY level. Temporary files start with a dot. Every file
carries FETCHED_AT, when its rows were downloaded: views keep the newest row per key.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pyarrow as pa

from neo.datasets import DatasetSpec, Strategy

FETCHED_AT = "_fetched_at"
FETCHED_AT_TYPE = pa.timestamp("us", tz="UTC")
GEN_DIGITS = 8
_FRESH = re.compile(rf"^g(\d{{{GEN_DIGITS}}})-")
_OURS = re.compile(rf"^[gc]\d{{{GEN_DIGITS}}}-.*\.parquet$")
PLACEHOLDER_SUFFIX = "-placeholder.parquet"  # zero-row files older versions kept for their globs


def is_snapshot(spec: DatasetSpec) -> bool:
    return spec.strategy is Strategy.SNAPSHOT


def is_partitioned(spec: DatasetSpec) -> bool:
    return spec.date_column is not None and spec.partitioned and not is_snapshot(spec)


def file_schema(spec: DatasetSpec) -> pa.Schema:
    """The schema of every data file of a dataset: the declared fields, then FETCHED_AT."""
    return spec.schema.append(pa.field(FETCHED_AT, FETCHED_AT_TYPE))


def dataset_dir(lake: Path, spec: DatasetSpec) -> Path:
    return lake / spec.name


def partition_dir(lake: Path, spec: DatasetSpec, year: int | None) -> Path:
    base = dataset_dir(lake, spec)
    return base / f"year={year}" if year is not None else base


def fresh_name(generation: int, fetched_at: datetime, batch_id: str) -> str:
    """Unique across processes and machines (batch ids are random), and the same for a batch
    retried within one generation."""
    return f"g{generation:0{GEN_DIGITS}d}-{fetched_at:%Y%m%dT%H%M%S%f}-{batch_id}.parquet"


def generation_of(path: Path) -> int | None:
    """The generation of a fresh file (or placeholder); None for any other file."""
    m = _FRESH.match(path.name)
    return int(m.group(1)) if m else None


def is_neo_file(path: Path) -> bool:
    """Named like a file neo writes (fresh, placeholder or compacted): vacuum deletes no other."""
    return _OURS.match(path.name) is not None


def is_placeholder(path: Path) -> bool:
    """A zero-row file of an older neo; nothing reads it, vacuum deletes it."""
    return path.name.endswith(PLACEHOLDER_SUFFIX)


def compacted_name(version: int, token: str, n: int) -> str:
    return f"c{version:0{GEN_DIGITS}d}-{token}-{n}.parquet"


def rejected_name(fetched_at: datetime, batch_id: str) -> str:
    return f"{fetched_at:%Y%m%dT%H%M%S%f}-{batch_id}.json"
