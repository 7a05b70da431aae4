"""What every strategy offers, and the planning context it works in."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

from neo.datasets import DatasetSpec
from neo.pipeline.ledger import Entry

if TYPE_CHECKING:
    from neo.core.config import Settings


@dataclass(frozen=True)
class Request:
    dataset: str
    params: dict[str, Any] = field(hash=False)


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
    the lake say is not there, plus what is due for a refresh). `missing` names what the lake lacks
    between the first and last thing it holds, for `neo status` and `neo verify`. `ledger_params`
    is the call that covers one date of the date column, or None when calls are not per date;
    `neo migrate` marks those calls done for the dates it imports.
    """

    needs_calendar = False  # gap detection reads the trade calendar

    @abstractmethod
    def plan(
        self, ctx: Context, spec: DatasetSpec, start: date, end: date, codes: list[str] | None
    ) -> list[Request]: ...

    def missing(self, ctx: Context, spec: DatasetSpec, calendar: list[date]) -> list[str]:
        return []

    def ledger_params(self, spec: DatasetSpec, day: date) -> dict[str, str] | None:
        return None


def empty_requests(entries: Iterable[Entry]) -> set[str]:
    """Request keys the ledger saw return no rows: their dates are not gaps."""
    return {e.request for e in entries if e.status == "done" and e.rows == 0}
