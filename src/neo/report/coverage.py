"""What `neo report` pictures, gathered into plain dataclasses: per dataset, its coverage by month,
rows per year, last update and failed requests.

Coverage is `neo status`'s: the units each dataset's strategy expects between the first and last
thing the lake holds (open days against the trade calendar, report periods, an index's days or
windows, stocks), each covered or not (neo/strategies). This module only counts them by month.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path

from neo.core import logs
from neo.core.config import Settings
from neo.datasets import DatasetSpec, Strategy
from neo.lake.ledger import Entry
from neo.lake.model import LakeModel
from neo.report.status import dataset_status
from neo.strategies import Context, Unit, for_spec, uncovered


class Status(StrEnum):
    COMPLETE = "complete"
    PARTIAL = "partial"
    MISSING = "missing"
    NONE = "none"  # a month in which the dataset expects nothing (outside its range, no report period)
    NOT_DOWNLOADED = "not downloaded"
    UNKNOWN = "unknown"  # rows, but no trade calendar in the lake to tell what is expected


@dataclass(frozen=True)
class Month:
    year: int
    month: int
    status: Status
    expected: int
    covered: int
    missing: tuple[str, ...]  # the labels `neo status` gives the units not covered


@dataclass(frozen=True)
class Year:
    year: int
    rows: int
    months: tuple[Month, ...]  # twelve, or none for a dataset whose units have no date


@dataclass(frozen=True)
class Failure:
    dataset: str
    request: str  # the call's params, canonical JSON
    reason: str
    at: datetime | None


@dataclass(frozen=True)
class DatasetCoverage:
    name: str
    description: str
    units: str  # what the dataset expects, plural: "open days", "report periods", "stocks"...
    status: Status
    rows: int  # one per key, as the views show them
    files: int
    first: date | None
    last: date | None
    updated: datetime | None  # when its newest rows were downloaded
    last_call: datetime | None  # the ledger's latest finished call, done or failed
    expected: int
    covered: int
    missing: tuple[str, ...]
    years: tuple[Year, ...]
    undated_rows: int  # rows whose date column is null (or a dataset without one)
    failures: tuple[Failure, ...]

    @property
    def by_month(self) -> bool:
        """Whether its coverage has dates to lay out on a calendar."""
        return any(y.months for y in self.years)


@dataclass(frozen=True)
class LakeReport:
    root: Path
    generated: datetime
    calendar: tuple[date, date] | None  # the open days of the lake's trade calendar, first and last
    datasets: tuple[DatasetCoverage, ...]

    @property
    def empty(self) -> bool:
        return all(d.status is Status.NOT_DOWNLOADED for d in self.datasets)

    @property
    def failures(self) -> list[Failure]:
        return [f for d in self.datasets for f in d.failures]

    def summary(self) -> str:
        """One line: how many datasets are in each state, and how many requests failed."""
        counts = Counter(d.status for d in self.datasets)
        states = ", ".join(f"{counts[s]} {s}" for s in Status if counts[s])
        failed = len(self.failures)
        said = "nothing downloaded yet" if self.empty else f"{len(self.datasets)} datasets: {states}"
        return f"{said}; {failed:,} failed request{'' if failed == 1 else 's'}"


def gather(
    settings: Settings,
    now: datetime | None = None,
    on_dataset: Callable[[str, int, int], None] | None = None,
) -> LakeReport:
    """Everything the page shows, read from the lake's read model. `on_dataset(name, n, total)` is
    called as each dataset is read, for progress."""
    with LakeModel(settings) as lake:
        ctx = Context(lake)
        calendar = ctx.calendar()
        entries: dict[str, list[Entry]] = defaultdict(list)
        for e in lake.ledger.entries():
            entries[e.dataset].append(e)
        datasets = []
        specs = lake.listed()
        for n, spec in enumerate(specs, 1):
            if on_dataset is not None:
                on_dataset(spec.name, n, len(specs))
            datasets.append(dataset_coverage(ctx, spec, lake.rows_by_year(spec), entries[spec.name]))
    return LakeReport(
        root=settings.home.resolve(),
        generated=now or datetime.now(UTC),
        calendar=(calendar[0], calendar[-1]) if calendar else None,
        datasets=tuple(datasets),
    )


def dataset_coverage(
    ctx: Context, spec: DatasetSpec, rows: dict[int | None, int], entries: list[Entry]
) -> DatasetCoverage:
    status = dataset_status(ctx, spec)
    units = status.coverage
    finished = [e.finished_at for e in entries if e.status != "pending" and e.finished_at is not None]
    failures = tuple(
        Failure(e.dataset, e.request, logs.redact(e.error or "no reason recorded"), _utc(e.finished_at))
        for e in entries
        if e.status == "failed"
    )
    total = sum(rows.values())
    needs_calendar = for_spec(spec).needs_calendar and not ctx.calendar()
    return DatasetCoverage(
        name=spec.name,
        description=spec.description,
        units=units_of(spec),
        status=overall(units, total, needs_calendar),
        rows=total,
        files=status.files,
        first=status.first,  # type: ignore[arg-type]
        last=status.last,  # type: ignore[arg-type]
        updated=status.updated,
        last_call=_utc(max(finished)) if finished else None,
        expected=len(units),
        covered=sum(u.covered for u in units),
        missing=tuple(uncovered(units)),
        years=by_year(units, rows),
        undated_rows=rows.get(None, 0),
        failures=failures,
    )


def overall(units: list[Unit], rows: int, needs_calendar: bool) -> Status:
    if units:
        return cell(len(units), sum(u.covered for u in units))
    if rows == 0:
        return Status.NOT_DOWNLOADED
    # Rows but nothing expected: a snapshot (whole or not there), or no calendar to compare with.
    return Status.UNKNOWN if needs_calendar else Status.COMPLETE


def cell(expected: int, covered: int) -> Status:
    if expected == 0:
        return Status.NONE
    if covered == expected:
        return Status.COMPLETE
    return Status.MISSING if covered == 0 else Status.PARTIAL


def by_year(units: Iterable[Unit], rows: dict[int | None, int]) -> tuple[Year, ...]:
    """Every year from the first to the last that has rows or expected units; months only when
    the units have dates."""
    months: dict[tuple[int, int], list[Unit]] = defaultdict(list)
    for u in units:
        if u.day is not None:
            months[(u.day.year, u.day.month)].append(u)
    known = {y for y in rows if y is not None} | {y for y, _ in months}
    if not known:
        return ()
    out = []
    for year in range(min(known), max(known) + 1):
        grid = ()
        if months:
            grid = tuple(_month(year, m, months.get((year, m), [])) for m in range(1, 13))
        out.append(Year(year, rows.get(year, 0), grid))
    return tuple(out)


def _month(year: int, month: int, units: list[Unit]) -> Month:
    covered = sum(u.covered for u in units)
    return Month(year, month, cell(len(units), covered), len(units), covered, tuple(uncovered(units)))


def units_of(spec: DatasetSpec) -> str:
    """What one unit of the dataset's coverage is, in the plural, for the page's words."""
    match spec.strategy:
        case Strategy.TRADE_DATE:
            return "open days"
        case Strategy.WEEK_END:
            return "week ends"
        case Strategy.MONTH_END:
            return "month ends"
        case Strategy.PERIOD:
            return "report periods"
        case Strategy.CODE_WINDOWS:
            return "open days per code" if spec.every_open_day else f"{spec.window}s per code"
        case Strategy.STOCK_HISTORY:
            return "stocks"
        case Strategy.MINUTE_BARS:
            return "months per code"
        case _:
            return "snapshots"


def _utc(stamp: float | None) -> datetime | None:
    return datetime.fromtimestamp(stamp, UTC) if stamp is not None else None
