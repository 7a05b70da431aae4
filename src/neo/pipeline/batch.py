"""A Batch: one download's rows plus what the writer needs to place them (id, time, request)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa


@dataclass
class Batch:
    dataset: str
    table: pa.Table
    params: dict[str, Any] = field(default_factory=dict)
    batch_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    fetched_at: datetime = field(default_factory=lambda: datetime.now(UTC))
