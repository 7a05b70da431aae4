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
from neo.datasets import DATASETS, DatasetSpec
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

    def notes(self) -> list[str]:
        """What `neo status` says below its table: days downloaded per stock only, files without
        rows, and a data root with nothing downloaded."""
        out = [per_stock_line(d.dataset, d.per_stock_only) for d in self.datasets if d.per_stock_only]
        out += [
            f"{d.dataset}: its files ({d.files}) hold no rows: calls that returned none, kept as empty "
            "files by an earlier neo (now the ledger alone records such calls); no query sees them"
            for d in self.datasets
            if d.files and not d.rows
        ]
        if not any(d.files for d in self.datasets):
            out.append(f"nothing is downloaded in {self.home.absolute()} yet: run `neo download`")
        return out


def dataset_status(ctx: Context, spec: DatasetSpec) -> DatasetStatus:
    stats = ctx.lake.stats(spec)
    status = DatasetStatus(spec.name, stats.rows, stats.files, stats.first, stats.last, stats.updated)
    status.coverage = for_spec(spec).coverage(ctx, spec, ctx.calendar())
    days = [u.day for u in status.coverage if u.covered and u.day is not None]
    status.per_stock_only = [fmt_day(d) for d in for_spec(spec).per_stock_only(ctx, spec, days)]
    return status


def per_stock_line(name: str, days: list[str]) -> str:
    """What `neo status` and `neo verify` say of days downloaded per stock only."""
    shown = ", ".join(days[:5]) + (f" (+{len(days) - 5})" if len(days) > 5 else "")
    return (
        f"{name}: {len(days)} days downloaded for some stocks only (neo download --codes), not the whole "
        f"market: {shown}; neo download {name} --start {days[0]} --end {days[-1]} fills them"
    )


def status(settings: Settings) -> LakeStatus:
    with LakeModel(settings) as lake:
        ctx = Context(lake)
        datasets = [dataset_status(ctx, spec) for spec in DATASETS.values()]
        failed = lake.ledger.entries(status="failed")
    return LakeStatus(settings.home, datasets, failed, backend_for(settings).depths(settings))
