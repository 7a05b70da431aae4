"""One whole-market call per report period (quarter end): statements through their *_vip APIs,
forecasts, express reports, disclosure dates. The most recent `restatement_periods` are pulled
again once older than `refresh_hours`, to pick up restatements and late filers."""

from __future__ import annotations

from datetime import date, timedelta

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
)


def quarter_ends(first: date, last: date) -> list[date]:
    out = []
    for year in range(first.year, last.year + 1):
        for month, day in ((3, 31), (6, 30), (9, 30), (12, 31)):
            q = date(year, month, day)
            if first <= q <= last:
                out.append(q)
    return out


class Periods(DownloadStrategy):
    def plan(
        self, ctx: Context, spec: DatasetSpec, start: date, end: date, codes: list[str] | None
    ) -> list[Request]:
        periods = quarter_ends(start, end)
        n = ctx.settings.restatement_periods
        recent = set(periods[-n:]) if n else set()
        entries = ctx.entries(spec)
        present = ctx.present(spec)
        out = []
        for q in periods:
            params = self.ledger_params(spec, q)
            entry = entries.get(request_key(params))
            if not ctx.covered(entry, q in present) or (q in recent and ctx.stale(entry)):
                out.append(Request(spec.name, params))
        return out

    def coverage(self, ctx: Context, spec: DatasetSpec, calendar: list[date]) -> list[Unit]:
        present = {d for d in ctx.present(spec) if d is not None}
        if not present:
            return []
        empty = empty_requests(ctx.entries(spec).values())
        return [
            Unit(fmt_day(q), q, q in present or request_key(self.ledger_params(spec, q)) in empty)
            for q in quarter_ends(min(present), max(present))
        ]

    def ledger_params(self, spec: DatasetSpec, day: date) -> dict[str, str]:
        return {spec.request_param or "period": fmt_day(day)}

    def gap(self, ctx: Context, spec: DatasetSpec, scope: Scope) -> Gap | None:
        """The report periods in scope without rows, unless their call returned none. A request
        bounded by announcement date may get a report (or its restatement) long after its period:
        the periods of the two years before the range count too."""
        if scope.periods is not None:
            periods = list(scope.periods)
        elif not scope.announced:
            days, lo, hi = ctx.bounds(spec, scope)
            periods = days if days is not None else quarter_ends(lo, hi)
        else:
            _, lo, hi = ctx.bounds(spec, scope)
            periods = quarter_ends(lo - timedelta(days=731), hi)
        quarters = set(quarter_ends(date(1990, 1, 1), ctx.today()))
        present, empty = ctx.present(spec), empty_requests(ctx.entries(spec).values())
        missing = [
            p
            for p in periods
            if p in quarters and p not in present and request_key(self.ledger_params(spec, p)) not in empty
        ]
        if not missing:
            return None
        return Gap(
            spec.name, "report periods", [fmt_day(p) for p in missing], download_command(spec, missing)
        )
