"""The planner: the fewest calls that bring the lake up to date, from each dataset's strategy,
the trade calendar and the ledger.

It is gap-aware: a day (or week, month, report period) counts as covered only when the ledger
says its request was durably written and the lake really has rows for it, or the request
legitimately returned none. Anything else in the range is planned again, wherever it sits.
Recent report periods and snapshots are re-pulled once they are older than `refresh_hours`, to
pick up restatements; nothing else is fetched twice, so re-running a finished plan plans nothing.
Days whose data is not yet published (Beijing time, per dataset) are left for a later run.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from neo.config import Settings
from neo.datasets import DATASETS, DatasetSpec, Strategy, get
from neo.dates import fmt_day, parse_day
from neo.errors import UsageError
from neo.lake.catalog import open_lake, read_files
from neo.pipeline.ledger import Entry, Ledger, request_key

BEIJING = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class Request:
    dataset: str
    params: dict[str, Any] = field(hash=False)


def beijing_now() -> datetime:
    return datetime.now(BEIJING)


def quarter_ends(first: date, last: date) -> list[date]:
    out = []
    for year in range(first.year, last.year + 1):
        for month, day in ((3, 31), (6, 30), (9, 30), (12, 31)):
            q = date(year, month, day)
            if first <= q <= last:
                out.append(q)
    return out


class Planner:
    def __init__(
        self,
        settings: Settings,
        ledger: Ledger,
        now: datetime | None = None,
        retry_failed: bool = False,
        queued_ttl: float = 0.0,
        refetch: bool = False,
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        self.now = now or beijing_now()
        self.retry_failed = retry_failed  # failed requests wait for --retry-failed, not every run
        self.refetch = refetch  # --refetch: everything in the range again, e.g. after the source revised it
        # `neo dl` leaves requests planned less than this many seconds ago alone: they are probably
        # still on the queue. `neo download` flushes its own queue and plans them again (0).
        self.queued_ttl = queued_ttl

    def calendar(self) -> list[date]:
        """Open days of the SSE calendar in the lake (empty until trade_cal is downloaded)."""
        con = open_lake(self.settings)
        try:
            rows = con.sql(
                "SELECT cal_date FROM trade_cal WHERE exchange = 'SSE' AND is_open = '1' ORDER BY cal_date"
            ).fetchall()
        finally:
            con.close()
        return [r[0] for r in rows]

    def snapshots_due(self, datasets: Iterable[str]) -> list[Request]:
        """Snapshots never fetched, or older than refresh_hours."""
        out = []
        for name in datasets:
            spec = get(name)
            stale = self.refetch or self._stale(self._entries(spec).get(request_key({})))
            if spec.strategy is Strategy.SNAPSHOT and stale:
                out.append(Request(name, {}))
        return out

    def plan(
        self,
        datasets: Iterable[str] | None = None,
        start: date | None = None,
        end: date | None = None,
        codes: list[str] | None = None,
    ) -> list[Request]:
        names = list(datasets or DATASETS)
        start = start or parse_day(self.settings.history_start, "history_start")
        today = self.now.date()
        end = min(end or today, today)
        if end < start:
            raise UsageError(f"--end {fmt_day(end)} is before --start {fmt_day(start)}")
        calendar = [d for d in self.calendar() if start <= d <= end]
        out: list[Request] = self.snapshots_due(names)
        for name in names:
            spec = get(name)
            if spec.strategy is Strategy.SNAPSHOT:
                continue
            if spec.strategy is Strategy.PERIOD:
                out += self._periods(spec, start, end)
            elif codes:
                out += self._by_stock(spec, codes, start, self._last_available(spec, end))
            else:
                out += self._days(spec, self.due_days(spec, calendar, end))
        return out

    # -- strategies -------------------------------------------------------------------------------

    def _last_available(self, spec: DatasetSpec, end: date) -> date:
        today = self.now.date()
        if spec.available_after is not None and end >= today and self.now.time() < spec.available_after:
            return today - timedelta(days=1)
        return end

    def due_days(self, spec: DatasetSpec, calendar: list[date], end: date) -> list[date]:
        last = self._last_available(spec, end)
        days = [d for d in calendar if d <= last]
        if spec.strategy is Strategy.WEEK_END:
            ends = {d.isocalendar()[:2]: d for d in self.calendar()}  # whole calendar: a week's true end
            return [d for d in days if ends[d.isocalendar()[:2]] == d]
        if spec.strategy is Strategy.MONTH_END:
            ends = {(d.year, d.month): d for d in self.calendar()}
            return [d for d in days if ends[(d.year, d.month)] == d]
        return days

    def _days(self, spec: DatasetSpec, days: list[date]) -> list[Request]:
        entries = self._entries(spec)
        present = self._present(spec)
        out = []
        for d in days:
            entry = entries.get(request_key({"trade_date": fmt_day(d)}))
            if not self._covered(entry, d in present):
                out.append(Request(spec.name, {"trade_date": fmt_day(d)}))
        return out

    def _periods(self, spec: DatasetSpec, start: date, end: date) -> list[Request]:
        periods = quarter_ends(start, end)
        recent = (
            set(periods[-self.settings.restatement_periods :]) if self.settings.restatement_periods else set()
        )
        entries = self._entries(spec)
        present = self._present(spec)
        out = []
        for q in periods:
            entry = entries.get(request_key({"period": fmt_day(q)}))
            if not self._covered(entry, q in present) or (q in recent and self._stale(entry)):
                out.append(Request(spec.name, {"period": fmt_day(q)}))
        return out

    def _by_stock(self, spec: DatasetSpec, codes: list[str], start: date, end: date) -> list[Request]:
        """--codes: one call per stock per calendar year (a year of one stock is far under any cap);
        the current year is fetched again once it is older than refresh_hours."""
        entries = self._entries(spec)
        out = []
        for code in codes:
            for year in range(start.year, end.year + 1):
                params = {"ts_code": code, "start_date": f"{year}0101", "end_date": f"{year}1231"}
                entry = entries.get(
                    f'{{"end_date":"{year}1231","start_date":"{year}0101","ts_code":"{code}"}}'
                )
                if not self._covered(entry, True) or (year == end.year and self._stale(entry)):
                    out.append(Request(spec.name, params))
        return out

    # -- helpers ----------------------------------------------------------------------------------

    def _entries(self, spec: DatasetSpec) -> dict[str, Entry]:
        return {e.request: e for e in self.ledger.entries(spec.name)}

    def _present(self, spec: DatasetSpec) -> set[date]:
        """Dates with rows in the lake's files (no dedup needed to know a date is there)."""
        if spec.date_column is None:
            return set()
        con = open_lake(self.settings)
        try:
            rows = con.sql(
                f"SELECT DISTINCT {spec.date_column} FROM {read_files(self.settings.lake_dir, spec)}"
            )
            return {r[0] for r in rows.fetchall()}
        finally:
            con.close()

    def _covered(self, entry: Entry | None, in_lake: bool) -> bool:
        if self.refetch:
            return False
        if entry is not None and entry.status == "failed":
            return not self.retry_failed
        if entry is not None and entry.status == "pending" and entry.planned_at is not None:
            return time.time() - entry.planned_at < self.queued_ttl
        return entry is not None and entry.status == "done" and (in_lake or entry.rows == 0)

    def _stale(self, entry: Entry | None) -> bool:
        if entry is not None and entry.status == "failed":
            return self.retry_failed  # a failure waits for --retry-failed, even where re-pulls are due
        if entry is not None and entry.status == "pending":
            return not self._covered(entry, False)
        if entry is None or entry.status != "done" or entry.finished_at is None:
            return True
        return time.time() - entry.finished_at > self.settings.refresh_hours * 3600
