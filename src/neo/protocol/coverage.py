"""Does the lake hold everything a request asks for? `neo serve` refuses what it cannot answer
completely rather than answer part of it silently.

What counts as held is what the dataset's download strategy says (`neo.strategies`, each
strategy's `gap`): the same rules planning, `neo status` and `neo verify` follow, written once. This
module only puts a request in the strategy's terms (a `Scope`: dates on the date column, codes,
report periods; for minute bars the days their window reaches, whole days being what the lake
holds or lacks) and checks the params whose values the server defaults, which neo downloads with
fixed values. The strategy reads the lake's read model of the moment (`Lake.model`), cached until
the lake changes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from neo.core.dates import beijing_now
from neo.datasets import DatasetSpec
from neo.protocol import minutes
from neo.protocol.core import Query, split_values
from neo.protocol.lake import Lake, parse_ymd
from neo.strategies import Context, DownloadStrategy, Gap, Policy, Scope, for_spec

__all__ = ["Coverage", "Gap", "scope"]


class Coverage:
    def __init__(self, lake: Lake, now: Callable[[], datetime] = beijing_now) -> None:
        self.lake = lake
        self._now = now

    def gap(self, spec: DatasetSpec, query: Query) -> Gap | None:
        """What the lake lacks to answer `query` completely, or None."""
        gap = default_gap(spec, query)
        if gap is not None:
            return gap
        strategy = for_spec(spec)
        ctx = Context(self.lake.model(), Policy(now=self._now()))
        return strategy.gap(ctx, spec, scope(spec, query, strategy))


def scope(spec: DatasetSpec, query: Query, strategy: DownloadStrategy) -> Scope:
    """The request in the dataset's terms. Dates bound the API's range column (for statements and
    forecasts through their *_vip APIs that may be the announcement date, not the period)."""
    code_column = strategy.code_column(spec)
    codes = next((tuple(f.values) for f in query.filters if f.column == code_column and not f.is_range), None)
    periods = None
    asked = list(query.periods) if query.periods is not None else None
    if asked is None and "end_date" in query.aliased:
        asked = split_values(query.aliased["end_date"])
    if asked is not None:
        periods = tuple(d for d in (parse_ymd(p) for p in asked) if d is not None)
    column = query.rule.date_column or spec.date_column
    days = start = end = None
    for f in query.filters:
        if f.column != column:
            continue
        if f.is_range and query.rule.moments:  # minute bars: the days holding bars in the window
            start, end = minutes.days(f.lo or "", f.hi or "")
        elif f.is_range:
            start, end = parse_ymd(f.lo or ""), parse_ymd(f.hi or "")
        else:
            days = tuple(d for d in (parse_ymd(v) for v in f.values) if d is not None)
        break
    return Scope(days, start, end, codes, periods, announced=column != spec.date_column)


def default_gap(spec: DatasetSpec, query: Query) -> Gap | None:
    """A param the server defaults (report_type 1, list_status L...) holds in the lake only the
    values neo's download calls asked for: the snapshot calls' values, else the default."""
    for param, default in query.rule.defaults.items():
        held = {str(call.get(param, default)) for call in spec.snapshot_calls}
        wanted = split_values(query.params.get(param, default))
        extra = [v for v in wanted if v not in held]
        if extra:
            asked = ",".join(sorted(held))
            return Gap(
                spec.name,
                f"{param} values",
                extra,
                f"none: neo downloads {spec.name} with {param}={asked} only",
            )
    return None
