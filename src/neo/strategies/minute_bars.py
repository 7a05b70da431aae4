"""Minute bars (stk_mins, idx_mins, a dataset per freq): one call per code and window of open days,
each window as long as the row cap allows (8,000 rows: 33 days of 241 1min bars, 163 of 49 5min
bars), within the code's listed life.

Which codes: the dataset's codes setting (`minute_stocks`: ts_codes, `index:CODE` for an index's
current members, `all` for every stock in stock_basic; `minute_indices`), or `--codes`. Nothing
else is downloaded: minute data needs its own subscription and is large, so it is opt-in.

Incremental: a code's open days are covered by the ledger's done calls whose rows are all still in
the lake (the view holds at least as many bars in the call's days as the call returned), or that
returned none. Only the days not covered are planned, in runs of consecutive open days cut into
windows; each run also pulls again the `minute_refresh_days` open days before it, which the lake
holds, to pick up late revisions. A re-run after a complete download plans nothing. A failed call
is planned again as it was (`--retry-failed`), so its success replaces the failure in the ledger.

Windows are calendar-true: a call asks for whole days ('YYYY-MM-DD 00:00:00' to 'YYYY-MM-DD
23:59:59'). The client asks again for the two halves of a window whose reply reaches the cap (a
duplicated day, a grid larger than expected): never a truncated window, never offset paging.

Gaps (`neo status`, `neo verify`, `neo report`) are judged by day, counted by code and month: a
code's month is covered when each of its open days between its first and last bar holds the
whole grid of bars, or did not trade (lake/minutes.py, `bad_days`). A month that is not names its
days and their bar counts.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from datetime import date, timedelta
from typing import TYPE_CHECKING

from neo.core.dates import fmt_day
from neo.core.errors import UsageError
from neo.datasets import DatasetSpec, get, row_cap
from neo.lake import minutes
from neo.lake.ledger import Entry
from neo.strategies.base import Context, DownloadStrategy, Gap, Request, Scope, Unit

if TYPE_CHECKING:
    from neo.core.config import Settings

SHOWN_DAYS = 3  # bad days a unit's label names


def window_params(spec: DatasetSpec, code: str, first: date, last: date) -> dict[str, str]:
    return {
        "ts_code": code,
        "freq": spec.freq or "1min",
        "start_date": f"{first.isoformat()} 00:00:00",
        "end_date": f"{last.isoformat()} 23:59:59",
    }


def window_of(entry: Entry) -> tuple[str, date, date] | None:
    """(code, first day, last day) of a minute call in the ledger; None for another shape."""
    p = entry.params
    try:
        return (
            str(p["ts_code"]),
            date.fromisoformat(str(p["start_date"])[:10]),
            date.fromisoformat(str(p["end_date"])[:10]),
        )
    except (KeyError, ValueError):
        return None


def days_per_call(spec: DatasetSpec, settings: Settings) -> int:
    return max(1, row_cap(spec.api, settings.row_caps) // minutes.bars_per_day(spec))


def intact_calls(ctx: Context, spec: DatasetSpec) -> list[tuple[Entry, tuple[str, date, date], bool]]:
    """The ledger's minute calls, each with its window and whether the lake still holds every bar
    it returned (fewer: a file was lost, and its days are not covered)."""
    calls = [(e, w) for e in ctx.entries(spec).values() if (w := window_of(e)) is not None]
    held = minutes.window_rows(ctx.lake, spec, [w for _, w in calls])
    return [(e, w, n >= (e.rows or 0)) for (e, w), n in zip(calls, held, strict=True)]


class MinuteBars(DownloadStrategy):
    needs_calendar = True

    def codes(
        self, ctx: Context, spec: DatasetSpec, codes: list[str] | None, start: date, end: date
    ) -> list[tuple[str, date, date]]:
        """(code, first day, last day) of each code to download: its listed life within [start,
        end] when stock_basic knows it, else [start, end] (ETFs, indices)."""
        life = {c: (lo, hi) for c, lo, hi in ctx.stock_codes()}
        wanted = codes or self._selected(ctx, spec, life, start, end)
        out = []
        for code in dict.fromkeys(wanted):
            listed, delisted = life.get(code, (None, None))
            first = max(start, listed) if listed else start
            last = min(end, delisted - timedelta(days=1)) if delisted else end
            if first <= last:
                out.append((code, first, last))
        return out

    def _selected(
        self, ctx: Context, spec: DatasetSpec, life: dict[str, tuple], start: date, end: date
    ) -> list[str]:
        assert spec.codes_setting is not None
        chosen: list[str] = list(getattr(ctx.settings, spec.codes_setting))
        if not chosen:
            raise UsageError(
                f"{spec.name}: no codes to download: list them in the setting {spec.codes_setting} "
                "(docs/guide.md, Minute bars), or pass --codes"
            )
        out: list[str] = []
        for item in chosen:
            if item.lower() == "all":  # every stock listed at some time in [start, end]
                out += [c for c, (lo, hi) in life.items() if lo and lo <= end and (hi is None or hi > start)]
            elif item.lower().startswith("index:"):
                out += _members(ctx, item.split(":", 1)[1].strip())
            else:
                out.append(item.strip())
        return sorted(set(out))

    def plan(
        self, ctx: Context, spec: DatasetSpec, start: date, end: date, codes: list[str] | None
    ) -> list[Request]:
        last = ctx.last_available(spec, end)
        calendar = ctx.calendar()
        by_code: dict[str, list[tuple[Entry, date, date, bool]]] = defaultdict(list)
        for entry, (code, lo, hi), whole in intact_calls(ctx, spec):
            by_code[code].append((entry, lo, hi, whole))
        size = days_per_call(spec, ctx.settings)
        refresh = ctx.settings.minute_refresh_days
        grid = minutes.bars_per_day(spec)
        out: list[Request] = []
        for code, first, stop in self.codes(ctx, spec, codes, start, last):
            days = calendar[bisect.bisect_left(calendar, first) : bisect.bisect_right(calendar, stop)]
            if not days:
                continue
            covered: set[date] = set()
            for entry, lo, hi, whole in by_code.get(code, []):
                inside = days[bisect.bisect_left(days, lo) : bisect.bisect_right(days, hi)]
                if ctx.covered(entry, whole):
                    covered.update(inside)
                elif entry.status != "done" and lo >= days[0] and hi <= days[-1]:
                    # A failed call (--retry-failed), or one planned that never ran: the same call
                    # again, so that its outcome replaces the old one in the ledger.
                    covered.update(inside)
                    out.append(Request(spec.name, entry.params, len(inside) * grid))
            for i, j in _runs(days, covered):
                i = max(0, i - refresh)  # a run after covered days re-pulls the last of them
                for k in range(i, j + 1, size):
                    part = days[k : min(k + size, j + 1)]
                    params = window_params(spec, code, part[0], part[-1])
                    out.append(Request(spec.name, params, len(part) * grid))
        return out

    def gap(self, ctx: Context, spec: DatasetSpec, scope: Scope) -> Gap | None:
        """The open days in scope, within each named code's listed life, that no done call whose
        bars are all still in the lake covered. A request must name its codes, as the API's does."""
        if not scope.codes:
            return Gap(
                spec.name, "codes", ["a request without ts_code"], f"neo download {spec.name} --codes CODE"
            )
        days, lo, hi = ctx.bounds(spec, scope)
        calendar = ctx.calendar()
        wanted = (
            days
            if days is not None
            else calendar[bisect.bisect_left(calendar, lo) : bisect.bisect_right(calendar, hi)]
        )
        covered: dict[str, set[date]] = defaultdict(set)
        for entry, (code, wlo, whi), whole in intact_calls(ctx, spec):
            if entry.status == "done" and (whole or entry.rows == 0):
                covered[code].update(
                    calendar[bisect.bisect_left(calendar, wlo) : bisect.bisect_right(calendar, whi)]
                )
        missing: list[str] = []
        starts: list[date] = []
        for code, first, last in self.codes(ctx, spec, list(scope.codes), lo, hi):
            for d in wanted:
                if first <= d <= last and d not in covered[code]:
                    missing.append(f"{code} {fmt_day(d)}")
                    starts.append(d)
        if not missing:
            return None
        return Gap(
            spec.name,
            "code-days",
            missing,
            f"neo download {spec.name} --codes {','.join(scope.codes)} --start {fmt_day(min(starts))} "
            f"--end {fmt_day(max(starts))}",
        )

    def coverage(self, ctx: Context, spec: DatasetSpec, calendar: list[date]) -> list[Unit]:
        """A unit per code and month between the code's first and last bar; see the module doc."""
        answered = [w for e, w, whole in intact_calls(ctx, spec) if e.status == "done" and whole]
        months, bad = minutes.bad_days(ctx.lake, spec, calendar, answered)
        by_month: dict[tuple[str, date], list[minutes.BadDay]] = defaultdict(list)
        for b in bad:
            by_month[(b.code, b.day.replace(day=1))].append(b)
        grid = minutes.bars_per_day(spec)
        out = []
        for code, month, expected in months:
            wrong = by_month.get((code, month), [])
            if not expected and not wrong:
                continue
            out.append(Unit(_label(code, month, wrong, grid), month, not wrong))
        return out


def _label(code: str, month: date, wrong: list[minutes.BadDay], grid: int) -> str:
    """`600000.SH 202401`, or, for a month with bad days, the days: `600000.SH 20240105 (120/241
    bars) 20240108 (none) (+2 days)`."""
    if not wrong:
        return f"{code} {month:%Y%m}"
    shown = " ".join(
        f"{fmt_day(b.day)} ({f'{b.bars}/{grid} bars' if b.bars else 'none'})" for b in wrong[:SHOWN_DAYS]
    )
    more = f" (+{len(wrong) - SHOWN_DAYS} days)" if len(wrong) > SHOWN_DAYS else ""
    return f"{code} {shown}{more}"


def _runs(days: list[date], covered: set[date]) -> list[tuple[int, int]]:
    """The runs of consecutive days that are not covered, as (first, last) indexes into `days`."""
    out: list[tuple[int, int]] = []
    start: int | None = None
    for i, d in enumerate(days):
        if d in covered:
            if start is not None:
                out.append((start, i - 1))
                start = None
        elif start is None:
            start = i
    if start is not None:
        out.append((start, len(days) - 1))
    return out


def _members(ctx: Context, index: str) -> list[str]:
    """The current members of `index`: its latest index_weight snapshot in the lake."""
    weights = ctx.lake.view(get("index_weight"))
    rows = ctx.lake.sql(
        f"SELECT con_code FROM {weights} WHERE index_code = ? AND trade_date = "
        f"(SELECT max(trade_date) FROM {weights} WHERE index_code = ?)",
        [index, index],
    )
    if not rows:
        raise UsageError(
            f"minute_stocks: index:{index} has no members in the lake: add {index} to the setting "
            f"indices and run `neo download index_weight` first"
        )
    return [r[0] for r in rows]
