"""`neo status`: what the lake holds, what it misses against the calendar, what failed, what waits."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from neo.app import AppContainer
from neo.datasets import DATASETS, DatasetSpec
from neo.lake import layout, manifest
from neo.lake.catalog import open_lake, read_files
from neo.lake.engine import first_row
from neo.pipeline.backends import backend_for
from neo.pipeline.ledger import Entry
from neo.pipeline.planner import Planner
from neo.strategies import Unit, for_spec, uncovered


@dataclass
class DatasetStatus:
    dataset: str
    rows: int
    files: int
    first: date | None
    last: date | None
    updated: datetime | None
    coverage: list[Unit] = field(default_factory=list)  # what the strategy expects, covered or not

    @property
    def missing(self) -> list[str]:
        return uncovered(self.coverage)


def dataset_status(container: AppContainer, spec: DatasetSpec, calendar: list[date]) -> DatasetStatus:
    s = container.settings
    files = manifest.live_files(s.lake_dir, spec)
    con = open_lake(s)
    try:
        date_col = spec.date_column or "NULL"
        rows, first, last, updated = first_row(
            con,
            f"SELECT count(*), min({date_col}), max({date_col}), epoch_ms(max({layout.FETCHED_AT})) "
            f"FROM {read_files(s.lake_dir, spec)}",
        ) or (0, None, None, None)
    finally:
        con.close()
    when = datetime.fromtimestamp(updated / 1000, UTC) if updated is not None else None
    status = DatasetStatus(spec.name, rows, len(files), first, last, when)
    status.coverage = coverage(container, spec, calendar)
    return status


def coverage(container: AppContainer, spec: DatasetSpec, calendar: list[date]) -> list[Unit]:
    """What the dataset should hold between the first and last thing it holds, by its strategy,
    each covered or not: `missing` lists the units that are not."""
    return for_spec(spec).coverage(Planner(container.settings, container.ledger), spec, calendar)


def missing(container: AppContainer, spec: DatasetSpec, calendar: list[date]) -> list[str]:
    """What the lake lacks between the first and last thing it holds, by the dataset's strategy
    (open days, report periods, an index's months...); a request the ledger saw return no rows is
    not missing. Shared by `neo status` and `neo verify`."""
    return for_spec(spec).missing(Planner(container.settings, container.ledger), spec, calendar)


def status(container: AppContainer) -> tuple[list[DatasetStatus], list[Entry], dict[str, int]]:
    settings = container.settings
    calendar = Planner(settings, container.ledger).calendar()
    datasets = [dataset_status(container, spec, calendar) for spec in DATASETS.values()]
    failed = container.ledger.entries(status="failed")
    return datasets, failed, backend_for(settings).depths(settings)
