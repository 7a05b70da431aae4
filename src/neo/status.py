"""`neo status`: what the lake holds, what it misses against the calendar, what failed, what waits."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from neo.app import AppContainer
from neo.datasets import DATASETS, DatasetSpec, Strategy
from neo.lake import layout, manifest
from neo.lake.catalog import open_lake, read_files
from neo.pipeline.ledger import Entry
from neo.pipeline.planner import Planner, quarter_ends


@dataclass
class DatasetStatus:
    dataset: str
    rows: int
    files: int
    first: date | None
    last: date | None
    updated: datetime | None
    missing: list[date] = field(default_factory=list)


def dataset_status(container: AppContainer, spec: DatasetSpec, calendar: list[date]) -> DatasetStatus:
    s = container.settings
    files = manifest.live_files(s.lake_dir, spec)
    con = open_lake(s)
    try:
        date_col = spec.date_column or "NULL"
        rows, first, last, updated = con.sql(
            f"SELECT count(*), min({date_col}), max({date_col}), epoch_ms(max({layout.FETCHED_AT})) "
            f"FROM {read_files(s.lake_dir, spec)}"
        ).fetchone()
        present: set[date] = set()
        if spec.date_column is not None:
            present = {
                r[0]
                for r in con.sql(
                    f"SELECT DISTINCT {spec.date_column} FROM {read_files(s.lake_dir, spec)}"
                ).fetchall()
            }
    finally:
        con.close()
    when = datetime.fromtimestamp(updated / 1000, UTC) if updated is not None else None
    status = DatasetStatus(spec.name, rows, len(files), first, last, when)
    status.missing = missing_dates(container, spec, calendar, present)
    return status


def missing_dates(
    container: AppContainer, spec: DatasetSpec, calendar: list[date], present: set[date]
) -> list[date]:
    """Dates (report periods for statements) between the first and last present one that the lake
    lacks, against the trade calendar and the dataset's strategy; a request the ledger saw return no
    rows is not missing. Shared by `neo status` and `neo verify`."""
    present = {d for d in present if d is not None}
    if not present or spec.strategy is Strategy.SNAPSHOT:
        return []
    first, last = min(present), max(present)
    if spec.strategy is Strategy.PERIOD:
        expected = quarter_ends(first, last)
    else:
        planner = Planner(container.settings, container.ledger)
        expected = planner.due_days(spec, [d for d in calendar if first <= d <= last], last)
    empty = {
        e.params.get("trade_date") or e.params.get("period")
        for e in container.ledger.entries(spec.name, "done")
        if e.rows == 0
    }
    return [d for d in expected if d not in present and d.strftime("%Y%m%d") not in empty]


def status(container: AppContainer) -> tuple[list[DatasetStatus], list[Entry], dict[str, int]]:
    from neo.pipeline.queues import QueuedPipeline

    calendar = Planner(container.settings, container.ledger).calendar()
    datasets = [dataset_status(container, spec, calendar) for spec in DATASETS.values()]
    failed = container.ledger.entries(status="failed")
    depths = QueuedPipeline(container).queues.depths()
    return datasets, failed, depths
