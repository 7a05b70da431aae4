"""Does the lake hold everything a request asks for? `neo serve` refuses what it cannot answer
completely rather than answer part of it silently.

What counts as held is what the download strategies (`neo.strategies`) count: an open day of the
trade calendar (or a week's or month's last one) with rows in the lake, a report period with rows,
a code's calendar window whose call the ledger has done, a stock whose history was pulled, a
snapshot downloaded once; a request the ledger saw return no rows is held too (that day simply has
no data). Open bounds: an open start means the whole history, from the first day of the lake's trade
calendar (for a stock's bars, from its listing), as Tushare would answer it; an open end means up to
the last day published (Beijing time). A calendar that does not reach a day cannot say it is missing.

Everything read here is cached until the lake's signature changes (a download finished, a
compaction committed).
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from neo.core import sqlite
from neo.core.dates import fmt_day, parse_day
from neo.datasets import DatasetSpec, Strategy
from neo.lake.catalog import read_files
from neo.lake.engine import q
from neo.lake.ledger import Entry, request_key
from neo.pipeline.planner import beijing_now
from neo.protocol.core import Query, split_values
from neo.protocol.lake import Lake, Signature, parse_ymd
from neo.strategies.base import per_stock_windows
from neo.strategies.calendar_days import CalendarDays
from neo.strategies.code_windows import window_params, windows
from neo.strategies.periods import quarter_ends

__all__ = ["Coverage", "Gap"]

T = TypeVar("T")
SHOWN = 5  # missing items named in the error; the rest are counted


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


class Coverage:
    """The strategies' context (`neo.strategies.base.Context`) over a read-only lake, cached."""

    def __init__(self, lake: Lake, now: Callable[[], datetime] = beijing_now) -> None:
        self.lake = lake
        self.settings = lake.settings
        self._now = now
        self._lock = threading.Lock()
        self._sig: Signature | None = None
        self._cache: dict[Any, Any] = {}

    def _cached(self, key: Any, build: Callable[[], T]) -> T:
        sig = self.lake.signature()
        with self._lock:
            if sig != self._sig:
                self._cache.clear()
                self._sig = sig
            if key in self._cache:
                return self._cache[key]  # type: ignore[no-any-return]
        value = build()
        with self._lock:
            if sig == self._sig:
                self._cache[key] = value
        return value

    # -- the Context the strategies read ----------------------------------------------------------

    def calendar(self) -> list[date]:
        sql = "SELECT cal_date FROM trade_cal WHERE exchange = 'SSE' AND is_open = '1' ORDER BY cal_date"
        return self._cached("calendar", lambda: [r[0] for r in self.lake.sql(sql)])

    def entries(self, spec: DatasetSpec) -> dict[str, Entry]:
        return self._cached(("entries", spec.name), lambda: self._entries(spec))

    def _entries(self, spec: DatasetSpec) -> dict[str, Entry]:
        path = self.settings.ledger_path
        if not path.exists():
            return {}
        con = sqlite.read_only(path)
        try:
            rows = con.execute(
                "SELECT dataset, request, status, rows, error, finished_at, planned_at FROM requests "
                "WHERE dataset = ?",
                (spec.name,),
            ).fetchall()
        finally:
            con.close()
        return {r[1]: Entry(*r) for r in rows}

    def present(self, spec: DatasetSpec) -> set[date]:
        if spec.date_column is None:
            return set()
        col = q(spec.date_column)

        def build() -> set[date]:
            files = read_files(self.settings.lake_dir, spec)  # reads the manifest: only on a miss
            return {
                r[0] for r in self.lake.sql(f"SELECT DISTINCT {col} FROM {files} WHERE {col} IS NOT NULL")
            }

        return self._cached(("present", spec.name), build)

    def present_by(self, spec: DatasetSpec, column: str) -> dict[str, set[date]]:
        if spec.date_column is None:
            return {}
        dc = q(spec.date_column)

        def build() -> dict[str, set[date]]:
            files = read_files(self.settings.lake_dir, spec)
            out: dict[str, set[date]] = {}
            for code, day in self.lake.sql(
                f"SELECT DISTINCT {q(column)}, {dc} FROM {files} WHERE {dc} IS NOT NULL"
            ):
                out.setdefault(code, set()).add(day)
            return out

        return self._cached(("present_by", spec.name, column), build)

    def stock_codes(self) -> list[tuple[str, date | None, date | None]]:
        sql = "SELECT ts_code, list_date, delist_date FROM stock_basic ORDER BY ts_code"
        return self._cached("stocks", lambda: [(r[0], r[1], r[2]) for r in self.lake.sql(sql)])

    def last_available(self, spec: DatasetSpec, end: date) -> date:
        now = self._now()
        today = now.date()
        if spec.available_after is not None and end >= today and now.time() < spec.available_after:
            return today - timedelta(days=1)
        return min(end, today)

    def _empty(self, spec: DatasetSpec) -> set[str]:
        return self._cached(
            ("empty", spec.name),
            lambda: {e.request for e in self.entries(spec).values() if e.status == "done" and e.rows == 0},
        )

    def _done(self, spec: DatasetSpec) -> set[str]:
        return self._cached(
            ("done", spec.name),
            lambda: {e.request for e in self.entries(spec).values() if e.status == "done"},
        )

    # -- the check -------------------------------------------------------------------------------

    def gap(self, spec: DatasetSpec, query: Query) -> Gap | None:
        """What the lake lacks to answer `query` completely, or None."""
        gap = self._default_gap(spec, query)
        if gap is not None:
            return gap
        if spec.strategy is Strategy.SNAPSHOT:
            if not self._done(spec):
                return Gap(spec.name, "snapshots", ["never downloaded"], f"neo download {spec.name}")
            return None
        if spec.strategy in (Strategy.TRADE_DATE, Strategy.WEEK_END, Strategy.MONTH_END):
            return self._calendar_gap(spec, query)
        if spec.strategy is Strategy.PERIOD:
            return self._period_gap(spec, query)
        if spec.strategy is Strategy.CODE_WINDOWS:
            return self._window_gap(spec, query)
        if spec.strategy is Strategy.STOCK_HISTORY:
            return self._stock_gap(spec, query)
        return None

    def _default_gap(self, spec: DatasetSpec, query: Query) -> Gap | None:
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

    def _bounds(self, spec: DatasetSpec, query: Query, column: str) -> tuple[list[date] | None, date, date]:
        """The request's dates on `column`: an explicit list (None if a range), and the range. An
        open start is the calendar's first day (Tushare answers the whole history; for bars, from
        the stocks' listing), an open end the last day published."""
        first = self._first_day(spec, query)
        last = self.last_available(spec, date.max)
        for f in query.filters:
            if f.column != column:
                continue
            if not f.is_range:
                days = sorted(d for d in (parse_ymd(v) for v in f.values) if d is not None)
                return days, (days[0] if days else first), (days[-1] if days else first)
            lo, hi = parse_ymd(f.lo or ""), parse_ymd(f.hi or "")
            return None, lo or first, min(hi or last, last)
        return None, first, last

    def _first_day(self, spec: DatasetSpec, query: Query) -> date:
        calendar = self.calendar()
        first = calendar[0] if calendar else parse_day(self.settings.history_start, "history_start")
        codes = next((f.values for f in query.filters if f.column == "ts_code" and not f.is_range), None)
        if codes and spec.strategy in (Strategy.TRADE_DATE, Strategy.WEEK_END, Strategy.MONTH_END):
            # No bar before a stock's listing.
            listed = {c: d for c, d, _ in self.stock_codes()}
            starts = [listed.get(c) for c in codes]
            if starts and all(s is not None for s in starts):
                first = max(first, min(s for s in starts if s is not None))
        return first

    def _calendar_gap(self, spec: DatasetSpec, query: Query) -> Gap | None:
        which = {Strategy.TRADE_DATE: "all", Strategy.WEEK_END: "week", Strategy.MONTH_END: "month"}
        strategy = CalendarDays(which[spec.strategy])  # type: ignore[arg-type]
        calendar = self.calendar()
        if not calendar:
            return Gap(spec.name, "calendars", ["trade_cal"], "neo download trade_cal")
        assert spec.date_column is not None
        days, lo, hi = self._bounds(spec, query, spec.date_column)
        span = calendar[bisect_left(calendar, lo) : bisect_right(calendar, hi)]
        expected = strategy.days(self, spec, span, self.last_available(spec, hi))  # type: ignore[arg-type]
        if days is not None:
            wanted = set(days)
            expected = [d for d in expected if d in wanted]
        present, empty = self.present(spec), self._empty(spec)
        missing = [
            d
            for d in expected
            if d not in present and request_key(strategy.ledger_params(spec, d)) not in empty
        ]
        partial = self._partial_days(spec, query, strategy, [d for d in expected if d in present])
        if not missing and not partial:
            return None
        missing = sorted(missing + partial)
        what = "trade dates" if not partial else "trade dates (some downloaded for a few stocks only)"
        return Gap(spec.name, what, [fmt_day(d) for d in missing], _download(spec, missing))

    def _partial_days(
        self, spec: DatasetSpec, query: Query, strategy: CalendarDays, days: list[date]
    ) -> list[date]:
        """Of `days` (which have rows), those downloaded per stock (`neo download --codes`) and not
        for the whole market, when the request wants stocks they were not downloaded for: all of
        them (no ts_code), or ones without a done window over the day."""
        windows = self._code_windows(spec)
        if not windows:
            return []
        spans = {w for ws in windows.values() for w in ws}
        done = self._done(spec)
        codes = next((f.values for f in query.filters if f.column == "ts_code" and not f.is_range), None)
        out = []
        for d in days:
            if not any(lo <= d <= hi for lo, hi in spans):
                continue  # no stock was downloaded alone on that day: its rows are the market's
            if request_key(strategy.ledger_params(spec, d)) in done:
                continue
            if codes is None or not all(any(lo <= d <= hi for lo, hi in windows.get(c, ())) for c in codes):
                out.append(d)
        return out

    def _code_windows(self, spec: DatasetSpec) -> dict[str, set[tuple[date, date]]]:
        """The calendar windows downloaded per stock, by stock."""
        return self._cached(
            ("code_windows", spec.name), lambda: per_stock_windows(self.entries(spec).values())
        )

    def _period_gap(self, spec: DatasetSpec, query: Query) -> Gap | None:
        param = spec.request_param or "period"
        present, empty = self.present(spec), self._empty(spec)
        asked: list[str] | None = list(query.periods) if query.periods is not None else None
        if asked is None and "end_date" in query.aliased:
            asked = split_values(query.aliased["end_date"])
        ranged_on_period = query.rule.date_column == "end_date"
        if asked is None and ranged_on_period:
            days, lo, hi = self._bounds(spec, query, "end_date")
            periods = days if days is not None else quarter_ends(lo, hi)
        elif asked is not None:
            periods = [d for d in (parse_ymd(p) for p in asked) if d is not None]
        else:
            # Bounded on the announcement date: a report (or its restatement) may come out long
            # after its period; the periods of the two years before the range's start count too.
            _, lo, hi = self._bounds(spec, query, query.rule.date_column or "ann_date")
            periods = quarter_ends(lo - timedelta(days=731), hi)
        today = self._now().date()
        quarter = set(quarter_ends(date(1990, 1, 1), today))
        missing = [
            p
            for p in periods
            if p in quarter and p not in present and request_key({param: fmt_day(p)}) not in empty
        ]
        if not missing:
            return None
        return Gap(spec.name, "report periods", [fmt_day(p) for p in missing], _download(spec, missing))

    def _window_gap(self, spec: DatasetSpec, query: Query) -> Gap | None:
        param = spec.request_param or "ts_code"
        codes = next((list(f.values) for f in query.filters if f.column == param and not f.is_range), None)
        if not codes:
            return Gap(
                spec.name,
                "codes",
                [f"a whole-market call (name {param}: the lake holds the indices it was asked for)"],
                f"neo download {spec.name} --codes CODE",
            )
        assert spec.date_column is not None
        _, lo, hi = self._bounds(spec, query, spec.date_column)
        done = self._done(spec)
        last = self.last_available(spec, hi)
        missing: list[str] = []
        starts: list[date] = []
        for code in codes:
            for wlo, whi in windows(lo, max(lo, hi), spec.window):
                if wlo > last:
                    break
                if request_key(window_params(param, code, wlo, whi)) not in done:
                    missing.append(f"{code} {wlo:%Y%m%d}-{whi:%Y%m%d}")
                    starts.append(wlo)
        if not missing:
            return None
        window = f"--start {min(starts):%Y%m%d} --end {hi:%Y%m%d}"
        command = f"neo download {spec.name} --codes {','.join(codes)} {window}"
        return Gap(spec.name, "windows", missing, command)

    def _stock_gap(self, spec: DatasetSpec, query: Query) -> Gap | None:
        done = {e.params.get("ts_code") for e in self.entries(spec).values() if e.status == "done"}
        codes = next((list(f.values) for f in query.filters if f.column == "ts_code"), None)
        if codes is None:
            codes = [c for c, _, _ in self.stock_codes()]
        missing = [c for c in codes if c not in done]
        if not missing:
            return None
        shown = f" --codes {','.join(missing)}" if len(missing) <= SHOWN else ""
        return Gap(spec.name, "stocks", missing, f"neo download {spec.name}{shown}")


def _download(spec: DatasetSpec, missing: list[date]) -> str:
    return f"neo download {spec.name} --start {fmt_day(min(missing))} --end {fmt_day(max(missing))}"
