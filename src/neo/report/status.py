"""`neo status`: what the lake holds, what it misses against the calendar, what failed, what waits.

Everything comes from one read model (lake/model.py): rows, files, dates and download times from
what the manifest records of each file, gaps from each dataset's strategy, failures from the
ledger, queue depths from the queues' store; nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from neo.core.backends import backend_for
from neo.core.config import Settings
from neo.core.dates import fmt_day
from neo.datasets import DatasetSpec
from neo.lake.ledger import Entry
from neo.lake.model import LakeModel
from neo.strategies import Context, Unit, for_spec, uncovered


@dataclass
class DatasetStatus:
    dataset: str
    rows: int
    files: int
    first: date | datetime | None
    last: date | datetime | None
    updated: datetime | None
    coverage: list[Unit] = field(default_factory=list)  # what the strategy expects, covered or not
    per_stock_only: list[str] = field(default_factory=list)  # days with only some stocks' rows

    @property
    def missing(self) -> list[str]:
        return uncovered(self.coverage)


@dataclass
class LakeStatus:
    home: Path
    datasets: list[DatasetStatus]
    failed: list[Entry]
    depths: dict[str, int]  # tasks waiting per queue


def dataset_status(ctx: Context, spec: DatasetSpec) -> DatasetStatus:
    stats = ctx.lake.stats(spec)
    status = DatasetStatus(spec.name, stats.rows, stats.files, stats.first, stats.last, stats.updated)
    status.coverage = for_spec(spec).coverage(ctx, spec, ctx.calendar())
    days = [u.day for u in status.coverage if u.covered and u.day is not None]
    status.per_stock_only = [fmt_day(d) for d in for_spec(spec).per_stock_only(ctx, spec, days)]
    return status


def status(settings: Settings) -> LakeStatus:
    with LakeModel(settings) as lake:
        ctx = Context(lake)
        datasets = [dataset_status(ctx, spec) for spec in lake.listed()]
        failed = lake.ledger.entries(status="failed")
    return LakeStatus(settings.home, datasets, failed, backend_for(settings).depths(settings))
