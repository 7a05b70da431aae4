"""The planner: the fewest calls that bring the lake up to date, from each dataset's strategy
(neo/strategies), the trade calendar and the ledger.

It is gap-aware: a day (or week, month, report period, window) counts as covered only when the
ledger says its request was durably written and the lake really has rows for it, or the request
legitimately returned none. Anything else in the range is planned again, wherever it sits.
Recent report periods, growing windows and snapshots are re-pulled once they are older than
`refresh_hours`, to pick up restatements; nothing else is fetched twice, so re-running a finished
plan plans nothing. Days whose data is not yet published (Beijing time, per dataset) are left for a
later run. This class is the context the strategies plan in: the policy of what counts as covered
and stale lives here once.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from neo.core.config import Settings
from neo.core.dates import fmt_day, parse_day
from neo.core.errors import UsageError
from neo.datasets import DATASETS, DatasetSpec, Strategy, get, opted_out
from neo.lake.catalog import open_lake, read_files
from neo.pipeline.ledger import Entry, Ledger
from neo.strategies import Request, for_spec
from neo.strategies.periods import quarter_ends

__all__ = ["BEIJING", "Planner", "Request", "beijing_now", "quarter_ends"]

BEIJING = ZoneInfo("Asia/Shanghai")


def beijing_now() -> datetime:
    return datetime.now(BEIJING)


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
        # One planning pass reads each of these once, however many strategies ask.
        self.calendar = cache(self._calendar)  # type: ignore[method-assign]
        self.stock_codes = cache(self._stock_codes)  # type: ignore[method-assign]

    def plan(
        self,
        datasets: Iterable[str] | None = None,
        start: date | None = None,
        end: date | None = None,
        codes: list[str] | None = None,
    ) -> list[Request]:
        # A bare plan leaves out the opt-in datasets the settings do not ask for (minute bars).
        names = list(datasets or (n for n, s in DATASETS.items() if not opted_out(s, self.settings)))
        start = start or parse_day(self.settings.history_start, "history_start")
        today = self.now.date()
        end = min(end or today, today)
        if end < start:
            raise UsageError(f"--end {fmt_day(end)} is before --start {fmt_day(start)}")
        specs = [get(n) for n in names]
        # Snapshots first: the calendar and the stock list are what the other plans are made of.
        specs.sort(key=lambda s: s.date_column is not None)
        out: list[Request] = []
        for spec in specs:
            out += for_spec(spec).plan(self, spec, start, end, codes)
        return out

    def snapshots_due(self, datasets: Iterable[str]) -> list[Request]:
        """Snapshots never fetched, or older than refresh_hours."""
        return [r for r in self.plan(datasets) if get(r.dataset).strategy is Strategy.SNAPSHOT]

    # -- the context strategies plan in ---------------------------------------------------------

    def _calendar(self) -> list[date]:
        """Open days of the SSE calendar in the lake (empty until trade_cal is downloaded)."""
        return [
            r[0]
            for r in self._sql(
                "SELECT cal_date FROM trade_cal WHERE exchange = 'SSE' AND is_open = '1' ORDER BY cal_date"
            )
        ]

    def _stock_codes(self) -> list[tuple[str, date | None, date | None]]:
        """(ts_code, list_date, delist_date) of every stock in the lake's stock_basic."""
        return [
            (r[0], r[1], r[2])
            for r in self._sql("SELECT ts_code, list_date, delist_date FROM stock_basic ORDER BY ts_code")
        ]

    def entries(self, spec: DatasetSpec) -> dict[str, Entry]:
        return {e.request: e for e in self.ledger.entries(spec.name)}

    def present(self, spec: DatasetSpec) -> set[date]:
        """Dates with rows in the lake's files (no dedup needed to know a date is there)."""
        if spec.date_column is None:
            return set()
        col = spec.date_column
        return {
            r[0] for r in self._sql(f"SELECT DISTINCT {col} FROM {read_files(self.settings.lake_dir, spec)}")
        }

    def present_by(self, spec: DatasetSpec, column: str) -> dict[str, set[date]]:
        """Per value of `column` (a code), the dates with rows."""
        if spec.date_column is None:
            return {}
        out: dict[str, set[date]] = {}
        sql = (
            f"SELECT DISTINCT {column}, {spec.date_column} FROM {read_files(self.settings.lake_dir, spec)} "
            f"WHERE {spec.date_column} IS NOT NULL"
        )
        for code, day in self._sql(sql):
            out.setdefault(code, set()).add(day)
        return out

    def last_available(self, spec: DatasetSpec, end: date) -> date:
        today = self.now.date()
        if spec.available_after is not None and end >= today and self.now.time() < spec.available_after:
            return today - timedelta(days=1)
        return end

    def covered(self, entry: Entry | None, in_lake: bool) -> bool:
        if self.refetch:
            return False
        if entry is not None and entry.status == "failed":
            return not self.retry_failed
        if entry is not None and entry.status == "pending" and entry.planned_at is not None:
            return time.time() - entry.planned_at < self.queued_ttl
        return entry is not None and entry.status == "done" and (in_lake or entry.rows == 0)

    def stale(self, entry: Entry | None, hours: float | None = None) -> bool:
        """Due for a refresh: never done, or done longer ago than `hours` (refresh_hours)."""
        if self.refetch:
            return True
        if entry is not None and entry.status == "failed":
            return self.retry_failed  # a failure waits for --retry-failed, even where re-pulls are due
        if entry is not None and entry.status == "pending":
            return not self.covered(entry, False)
        if entry is None or entry.status != "done" or entry.finished_at is None:
            return True
        limit = self.settings.refresh_hours if hours is None else hours
        return time.time() - entry.finished_at > limit * 3600

    def _sql(self, sql: str) -> list[tuple]:
        con = open_lake(self.settings)
        try:
            return con.sql(sql).fetchall()
        finally:
            con.close()
