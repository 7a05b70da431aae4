"""`neo status`: what the lake holds, what it misses against the calendar, what failed, what waits."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from neo.app import AppContainer
from neo.core.config import Settings
from neo.core.dates import fmt_day
from neo.datasets import DATASETS, DatasetSpec, opted_out
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
    per_stock_only: list[str] = field(default_factory=list)  # days with only some stocks' rows

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
    status.per_stock_only = per_stock_only(container, spec, status.coverage)
    return status


def coverage(container: AppContainer, spec: DatasetSpec, calendar: list[date]) -> list[Unit]:
    """What the dataset should hold between the first and last thing it holds, by its strategy,
    each covered or not: `missing` lists the units that are not."""
    return for_spec(spec).coverage(Planner(container.settings, container.ledger), spec, calendar)


def per_stock_only(container: AppContainer, spec: DatasetSpec, units: list[Unit]) -> list[str]:
    """The days of `units` (a dataset's coverage) that hold rows of the stocks `neo download
    --codes` asked for and no whole-market call: covered, yet not for the whole market. Shared by
    `neo status` and `neo verify` (`neo serve` refuses whole-market requests for them)."""
    days = [u.day for u in units if u.covered and u.day is not None]
    planner = Planner(container.settings, container.ledger)
    return [fmt_day(d) for d in for_spec(spec).per_stock_only(planner, spec, days)]


def notes(datasets: list[DatasetStatus], home: Path) -> list[str]:
    """What `neo status` says below its table: days downloaded per stock only, files without rows,
    and a data root with nothing downloaded."""
    out = [per_stock_line(d.dataset, d.per_stock_only) for d in datasets if d.per_stock_only]
    out += [
        f"{d.dataset}: its files ({d.files}) hold no rows: calls that returned none, kept as empty files "
        "by an earlier neo (now the ledger alone records such calls); no query sees them"
        for d in datasets
        if d.files and not d.rows
    ]
    if not any(d.files for d in datasets):
        out.append(f"nothing is downloaded in {home.absolute()} yet: run `neo download`")
    return out


def per_stock_line(name: str, days: list[str]) -> str:
    """What `neo status` and `neo verify` say of days downloaded per stock only."""
    shown = ", ".join(days[:5]) + (f" (+{len(days) - 5})" if len(days) > 5 else "")
    return (
        f"{name}: {len(days)} days downloaded for some stocks only (neo download --codes), not the whole "
        f"market: {shown}; neo download {name} --start {days[0]} --end {days[-1]} fills them"
    )


def listed(settings: Settings) -> list[DatasetSpec]:
    """Every dataset, but the opt-in ones the settings do not ask for while they hold nothing
    (minute bars): `neo status`, `neo verify` and `neo report` list these."""
    return [
        s
        for s in DATASETS.values()
        if not opted_out(s, settings) or manifest.live_files(settings.lake_dir, s)
    ]


def status(container: AppContainer) -> tuple[list[DatasetStatus], list[Entry], dict[str, int]]:
    settings = container.settings
    calendar = Planner(settings, container.ledger).calendar()
    datasets = [dataset_status(container, spec, calendar) for spec in listed(settings)]
    failed = container.ledger.entries(status="failed")
    return datasets, failed, backend_for(settings).depths(settings)
