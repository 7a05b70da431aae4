"""One whole-market call per open day (daily, moneyflow...), per week's or month's last open day
(weekly, monthly). With --codes: one call per stock and calendar year instead."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from datetime import date
from typing import Literal

from neo.core.dates import fmt_day
from neo.datasets import DatasetSpec
from neo.lake.ledger import request_key
from neo.strategies.base import (
    Context,
    DownloadStrategy,
    Gap,
    Request,
    Scope,
    Unit,
    download_command,
    empty_requests,
    per_stock_windows,
)
from neo.strategies.code_windows import plan_windows


class CalendarDays(DownloadStrategy):
    needs_calendar = True

    def __init__(self, which: Literal["all", "week", "month"]) -> None:
        self.which = which

    def days(self, ctx: Context, spec: DatasetSpec, calendar: list[date], end: date) -> list[date]:
        """The dates this dataset has data for among `calendar`, up to what is published by `end`."""
        last = ctx.last_available(spec, end)
        days = [d for d in calendar if d <= last]
        if self.which == "all":
            return days
        whole = ctx.calendar()  # the whole calendar: a week's or month's true last open day
        if self.which == "week":
            ends = {d.isocalendar()[:2]: d for d in whole}
            return [d for d in days if ends[d.isocalendar()[:2]] == d]
        month_ends = {(d.year, d.month): d for d in whole}
        return [d for d in days if month_ends[(d.year, d.month)] == d]

    def plan(
        self, ctx: Context, spec: DatasetSpec, start: date, end: date, codes: list[str] | None
    ) -> list[Request]:
        if codes:
            return plan_windows(ctx, spec, "ts_code", codes, "year", start, ctx.last_available(spec, end))
        calendar = [d for d in ctx.calendar() if start <= d <= end]
        entries = ctx.entries(spec)
        present = ctx.present(spec)
        out = []
        for d in self.days(ctx, spec, calendar, end):
            params = self.ledger_params(spec, d)
            if not ctx.covered(entries.get(request_key(params)), d in present):
                out.append(Request(spec.name, params))
        return out

    def coverage(self, ctx: Context, spec: DatasetSpec, calendar: list[date]) -> list[Unit]:
        present = {d for d in ctx.present(spec) if d is not None}
        if not present:
            return []
        first, last = min(present), max(present)
        empty = empty_requests(ctx.entries(spec).values())
        expected = self.days(ctx, spec, [d for d in calendar if first <= d <= last], last)
        return [
            Unit(fmt_day(d), d, d in present or request_key(self.ledger_params(spec, d)) in empty)
            for d in expected
        ]

    def ledger_params(self, spec: DatasetSpec, day: date) -> dict[str, str]:
        return {"trade_date": fmt_day(day)}

    def gap(self, ctx: Context, spec: DatasetSpec, scope: Scope) -> Gap | None:
        """The open days (week or month ends) in scope without rows, unless their call returned
        none; and days downloaded for other stocks only (`--codes`). An open start for named
        stocks begins at their listing: no bar comes before it."""
        calendar = ctx.calendar()
        if not calendar:
            return Gap(spec.name, "calendars", ["trade_cal"], "neo download trade_cal")
        first = None
        if scope.codes:
            listed = {c: d for c, d, _ in ctx.stock_codes()}
            starts = [listed.get(c) for c in scope.codes]
            if starts and all(s is not None for s in starts):
                first = max(ctx.first_day(), min(s for s in starts if s is not None))
        days, lo, hi = ctx.bounds(spec, scope, first)
        span = calendar[bisect_left(calendar, lo) : bisect_right(calendar, hi)]
        expected = self.days(ctx, spec, span, ctx.last_available(spec, hi))
        if days is not None:
            wanted = set(days)
            expected = [d for d in expected if d in wanted]
        present, empty = ctx.present(spec), empty_requests(ctx.entries(spec).values())
        missing = [
            d for d in expected if d not in present and request_key(self.ledger_params(spec, d)) not in empty
        ]
        partial = self._partial(ctx, spec, scope.codes, [d for d in expected if d in present])
        if not missing and not partial:
            return None
        missing = sorted(missing + partial)
        what = "trade dates" if not partial else "trade dates (some downloaded for a few stocks only)"
        return Gap(spec.name, what, [fmt_day(d) for d in missing], download_command(spec, missing))

    def _partial(
        self, ctx: Context, spec: DatasetSpec, codes: tuple[str, ...] | None, days: list[date]
    ) -> list[date]:
        """Of `days` (which have rows), those downloaded per stock and not for the whole market,
        when the request wants stocks they were not downloaded for: all of them (no codes), or
        ones without a done window over the day."""
        windows = per_stock_windows(ctx.entries(spec).values())
        return [
            d
            for d in self.per_stock_only(ctx, spec, days)
            if codes is None or not all(any(lo <= d <= hi for lo, hi in windows.get(c, ())) for c in codes)
        ]

    def per_stock_only(self, ctx: Context, spec: DatasetSpec, days: Iterable[date]) -> list[date]:
        entries = ctx.entries(spec)
        spans = {w for ws in per_stock_windows(entries.values()).values() for w in ws}
        if not spans:
            return []
        out = []
        for d in days:
            whole = entries.get(request_key(self.ledger_params(spec, d)))
            if (whole is None or whole.status != "done") and any(lo <= d <= hi for lo, hi in spans):
                out.append(d)
        return out
