"""What every strategy offers, and the context it plans and judges coverage in."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from neo.core.config import Settings
from neo.core.dates import beijing_now, fmt_day, parse_day
from neo.core.errors import UsageError
from neo.datasets import DatasetSpec
from neo.lake.ledger import Entry
from neo.lake.model import LakeModel

SHOWN = 5  # missing items a Gap names; the rest are counted


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


@dataclass(frozen=True)
class Scope:
    """What a request to `neo serve` asks of a dataset, in the dataset's own terms: dates on its
    date column (a list, or a range whose open ends mean the whole history and the last day
    published), the codes it names, and for report periods the periods or the announcement dates."""

    days: tuple[date, ...] | None = None
    start: date | None = None
    end: date | None = None
    codes: tuple[str, ...] | None = None
    periods: tuple[date, ...] | None = None  # report periods named
    announced: bool = False  # start/end bound the announcement date, not the period


@dataclass(frozen=True)
class Gap:
    """What the lake lacks for one request, and the command that fills it."""

    dataset: str
    what: str  # "trade dates", "report periods", "windows", "stocks", ...
    items: list[str]
    command: str

    def message(self) -> str:
        shown = ", ".join(self.items[:SHOWN])
        more = f", ... ({len(self.items)} in all)" if len(self.items) > SHOWN else ""
        return (
            f"neo serve: the lake has not downloaded {self.dataset} for {len(self.items)} {self.what} "
            f"({shown}{more}); fill them with: {self.command}"
        )


@dataclass(frozen=True)
class Policy:
    """What counts as covered and as due for a refresh: the planner's options (`--retry-failed`,
    `--refetch`, how long `neo dl` trusts a queued request) and the time it plans at."""

    now: datetime = field(default_factory=beijing_now)
    retry_failed: bool = False
    refetch: bool = False
    queued_ttl: float = 0.0  # `neo dl`: seconds a planned request is left on its queue


class Context:
    """What a strategy may ask: the lake's read model (calendar, ledger entries, what the lake
    holds) and the policy. One per command, or per lake change for `neo serve`."""

    def __init__(self, lake: LakeModel, policy: Policy | None = None) -> None:
        self.lake = lake
        self.policy = policy or Policy()

    @property
    def settings(self) -> Settings:
        return self.lake.settings

    def calendar(self) -> list[date]:
        return self.lake.calendar()

    def entries(self, spec: DatasetSpec) -> dict[str, Entry]:
        return self.lake.entries(spec)

    def present(self, spec: DatasetSpec) -> set[date]:
        return self.lake.present(spec)

    def present_by(self, spec: DatasetSpec, column: str) -> dict[str, set[date]]:
        return self.lake.present_by(spec, column)

    def stock_codes(self) -> list[tuple[str, date | None, date | None]]:
        return self.lake.stock_codes()

    def today(self) -> date:
        return self.policy.now.date()

    def last_available(self, spec: DatasetSpec, end: date) -> date:
        """`end`, or yesterday when `end` is today and the day's data is not published yet."""
        now = self.policy.now
        today = now.date()
        if spec.available_after is not None and end >= today and now.time() < spec.available_after:
            return today - timedelta(days=1)
        return min(end, today)

    def covered(self, entry: Entry | None, in_lake: bool) -> bool:
        p = self.policy
        if p.refetch:
            return False
        if entry is not None and entry.status == "failed":
            return not p.retry_failed
        if entry is not None and entry.status == "pending" and entry.planned_at is not None:
            return time.time() - entry.planned_at < p.queued_ttl
        return entry is not None and entry.status == "done" and (in_lake or entry.rows == 0)

    def stale(self, entry: Entry | None, hours: float | None = None) -> bool:
        """Due for a refresh: never done, or done longer ago than `hours` (refresh_hours)."""
        p = self.policy
        if p.refetch:
            return True
        if entry is not None and entry.status == "failed":
            return p.retry_failed  # a failure waits for --retry-failed, even where re-pulls are due
        if entry is not None and entry.status == "pending":
            return not self.covered(entry, False)
        if entry is None or entry.status != "done" or entry.finished_at is None:
            return True
        limit = self.settings.refresh_hours if hours is None else hours
        return time.time() - entry.finished_at > limit * 3600

    def first_day(self) -> date:
        """Where an open start begins: the lake's calendar, else history_start."""
        calendar = self.calendar()
        return calendar[0] if calendar else parse_day(self.settings.history_start, "history_start")

    def bounds(
        self, spec: DatasetSpec, scope: Scope, first: date | None = None
    ) -> tuple[list[date] | None, date, date]:
        """A scope's dates on the date column: the explicit list (None for a range), and the range
        with open ends closed: from `first` (default: the lake's first day) to the last day
        published."""
        first = first or self.first_day()
        last = self.last_available(spec, date.max)
        if scope.days is not None:
            days = sorted(scope.days)
            return days, (days[0] if days else first), (days[-1] if days else first)
        return None, scope.start or first, min(scope.end or last, last)


class DownloadStrategy(ABC):
    """One way of covering a dataset with calls, and the one place that says what it covers.

    `plan` lists the calls that bring [start, end] up to date (gap-aware: only what the ledger and
    the lake say is not there, plus what is due for a refresh). `coverage` lists what the dataset
    should hold between the first and last thing it holds, each covered or not; `neo status`,
    `neo verify` (their gaps are its `uncovered` units) and `neo report` all read it, so a gap
    means one thing. `gap` says what the lake lacks to answer one request completely (`neo serve`,
    `neo.pro_api()`). `per_stock_only` says which covered days hold only some stocks' rows.
    `ledger_params` is the call that covers one date of the date column, or None when calls are
    not per date; `neo migrate` marks those calls done for the dates it imports.
    """

    needs_calendar = False  # gap detection reads the trade calendar

    @abstractmethod
    def plan(
        self, ctx: Context, spec: DatasetSpec, start: date, end: date, codes: list[str] | None
    ) -> list[Request]: ...

    @abstractmethod
    def gap(self, ctx: Context, spec: DatasetSpec, scope: Scope) -> Gap | None:
        """What the lake lacks to answer a request for `scope` completely, or None."""

    def code_column(self, spec: DatasetSpec) -> str:
        """The column a request names its codes by (a Scope's codes)."""
        return "ts_code"

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


def done_requests(entries: Iterable[Entry]) -> set[str]:
    return {e.request for e in entries if e.status == "done"}


def download_command(spec: DatasetSpec, missing: list[date]) -> str:
    """The command that fills these dates of the dataset."""
    return f"neo download {spec.name} --start {fmt_day(min(missing))} --end {fmt_day(max(missing))}"
