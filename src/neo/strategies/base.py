"""What every strategy offers, and the planning context it works in."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

from neo.core.dates import parse_day
from neo.core.errors import UsageError
from neo.datasets import DatasetSpec
from neo.pipeline.ledger import Entry

if TYPE_CHECKING:
    from neo.core.config import Settings


@dataclass(frozen=True)
class Unit:
    """One thing a dataset is expected to hold (an open day, a report period, an index's day or
    window, a stock's history) and whether the lake covers it: it has rows, or its call returned none."""

    label: str  # as `neo status` and `neo verify` name it when it is missing
    day: date | None  # the date it stands for (a window: its first day); None when it has none
    covered: bool


@dataclass(frozen=True)
class Request:
    dataset: str
    params: dict[str, Any] = field(hash=False)
    rows: int | None = field(default=None, compare=False)  # what the call should return, when known


class Context(Protocol):
    """What a strategy may ask of the planner: the calendar, the ledger's view of each request,
    what the lake holds, and the refresh policy (see pipeline/planner.py)."""

    settings: Settings

    def calendar(self) -> list[date]: ...
    def entries(self, spec: DatasetSpec) -> dict[str, Entry]: ...
    def present(self, spec: DatasetSpec) -> set[date]: ...
    def present_by(self, spec: DatasetSpec, column: str) -> dict[str, set[date]]: ...
    def stock_codes(self) -> list[tuple[str, date | None, date | None]]: ...
    def covered(self, entry: Entry | None, in_lake: bool) -> bool: ...
    def stale(self, entry: Entry | None, hours: float | None = None) -> bool: ...
    def last_available(self, spec: DatasetSpec, end: date) -> date: ...


class DownloadStrategy(ABC):
    """One way of covering a dataset with calls.

    `plan` lists the calls that bring [start, end] up to date (gap-aware: only what the ledger and
    the lake say is not there, plus what is due for a refresh). `coverage` lists what the dataset
    should hold between the first and last thing it holds, each covered or not; `neo status`,
    `neo verify` (their gaps are its `uncovered` units) and `neo report` all read it, so a gap
    means one thing. `per_stock_only` says which covered days hold only some stocks' rows.
    `ledger_params` is the call that covers one date of the date column, or None when calls are
    not per date; `neo migrate` marks those calls done for the dates it imports.
    """

    needs_calendar = False  # gap detection reads the trade calendar

    @abstractmethod
    def plan(
        self, ctx: Context, spec: DatasetSpec, start: date, end: date, codes: list[str] | None
    ) -> list[Request]: ...

    def coverage(self, ctx: Context, spec: DatasetSpec, calendar: list[date]) -> list[Unit]:
        """Nothing, for a lake that holds nothing of the dataset (a fresh lake misses nothing)."""
        return []

    def ledger_params(self, spec: DatasetSpec, day: date) -> dict[str, str] | None:
        return None

    def per_stock_only(self, ctx: Context, spec: DatasetSpec, days: Iterable[date]) -> list[date]:
        """Of `days` (which have rows), those only per-stock calls downloaded (`neo download
        --codes`): the lake holds those stocks' rows there, not the whole market's. Empty for a
        strategy whose calls are never per stock."""
        return []


def uncovered(units: Iterable[Unit]) -> list[str]:
    """The labels of the units the lake does not cover: what `neo status` lists as missing."""
    return [u.label for u in units if not u.covered]


def per_stock_windows(entries: Iterable[Entry]) -> dict[str, set[tuple[date, date]]]:
    """The calendar windows downloaded per stock, by stock: done calls naming a ts_code and a date
    range (`neo download --codes`)."""
    out: dict[str, set[tuple[date, date]]] = {}
    for e in entries:
        if e.status != "done" or '"ts_code":' not in e.request:  # before parsing the JSON
            continue
        params = e.params
        lo, hi = _day(params.get("start_date")), _day(params.get("end_date"))
        if lo is not None and hi is not None:
            out.setdefault(str(params["ts_code"]), set()).add((lo, hi))
    return out


def _day(value: object) -> date | None:
    try:
        return parse_day(str(value))
    except UsageError:
        return None


def empty_requests(entries: Iterable[Entry]) -> set[str]:
    """Request keys the ledger saw return no rows: their dates are not gaps."""
    return {e.request for e in entries if e.status == "done" and e.rows == 0}
