"""One call per code and calendar window, for APIs with no whole-market form: index bars per
index and year, index weights per index and month (codes from a setting, e.g. `indices`), and any
per-date dataset when `--codes` asks for single stocks. The window that is still growing is pulled
again once older than `refresh_hours`; a window is planned again when the lake lost its rows (for
datasets with a row on every open day, when any open day since the code's first row is missing).
"""

from __future__ import annotations

import calendar as cal
from datetime import date
from typing import Literal

from neo.core.dates import fmt_day
from neo.core.errors import UsageError
from neo.datasets import DatasetSpec
from neo.lake.ledger import request_key
from neo.strategies.base import (
    Context,
    DownloadStrategy,
    Gap,
    Request,
    Scope,
    Unit,
    done_requests,
    empty_requests,
)

Grain = Literal["year", "month"]


def windows(start: date, last: date, grain: Grain) -> list[tuple[date, date]]:
    """Whole calendar years or months from the one holding `start` to the one holding `last`:
    fixed bounds, so a window's request (and its ledger key) is the same on every run."""
    out = []
    y, m = start.year, start.month if grain == "month" else 1
    while (y, m) <= (last.year, last.month if grain == "month" else 1):
        if grain == "year":
            out.append((date(y, 1, 1), date(y, 12, 31)))
            y += 1
        else:
            out.append((date(y, m, 1), date(y, m, cal.monthrange(y, m)[1])))
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def window_params(code_param: str, code: str, lo: date, hi: date) -> dict[str, str]:
    return {code_param: code, "start_date": fmt_day(lo), "end_date": fmt_day(hi)}


def plan_windows(
    ctx: Context,
    spec: DatasetSpec,
    code_param: str,
    codes: list[str],
    grain: Grain,
    start: date,
    last: date,
    dense: bool = False,
) -> list[Request]:
    entries = ctx.entries(spec)
    # A code column the lake does not hold cannot show gaps: the ledger alone decides.
    present = ctx.present_by(spec, code_param) if code_param in spec.field_names else None
    open_days = ctx.calendar() if dense else []
    out = []
    for code in codes:
        have = present.get(code, set()) if present is not None else set()
        first = min(have) if have else None
        for lo, hi in windows(start, last, grain):
            params = window_params(code_param, code, lo, hi)
            entry = entries.get(request_key(params))
            in_lake = present is None or any(lo <= d <= hi for d in have)
            if in_lake and dense and first is not None:  # and no open day since the first row lost
                due = [d for d in open_days if max(lo, first) <= d <= min(hi, last)]
                in_lake = all(d in have for d in due)
            growing = hi >= last
            if not ctx.covered(entry, in_lake) or (growing and ctx.stale(entry)):
                out.append(Request(spec.name, params))
    return out


class CodeWindows(DownloadStrategy):
    needs_calendar = True

    def code_column(self, spec: DatasetSpec) -> str:
        return spec.request_param or "ts_code"

    def codes(self, ctx: Context, spec: DatasetSpec, codes: list[str] | None) -> list[str]:
        if codes:
            return codes
        assert spec.codes_setting is not None, f"{spec.name}: code_windows needs codes_setting"
        found = getattr(ctx.settings, spec.codes_setting)
        if not found:
            raise UsageError(f"{spec.name}: the setting {spec.codes_setting} lists no codes")
        return list(found)

    def plan(
        self, ctx: Context, spec: DatasetSpec, start: date, end: date, codes: list[str] | None
    ) -> list[Request]:
        return plan_windows(
            ctx,
            spec,
            spec.request_param or "ts_code",
            self.codes(ctx, spec, codes),
            spec.window,
            start,
            ctx.last_available(spec, end),
            dense=spec.every_open_day,
        )

    def coverage(self, ctx: Context, spec: DatasetSpec, calendar: list[date]) -> list[Unit]:
        """Per code, between its first and last row: open days (datasets with a row every open
        day), else calendar windows, covered when they have rows or their call returned none."""
        code_param = spec.request_param or "ts_code"
        empty = empty_requests(ctx.entries(spec).values())
        out = []
        for code, have in sorted(ctx.present_by(spec, code_param).items()):
            first, last = min(have), max(have)
            if spec.every_open_day:
                out += [Unit(f"{code} {fmt_day(d)}", d, d in have) for d in calendar if first <= d <= last]
                continue
            for lo, hi in windows(first, last, spec.window):
                key = request_key(window_params(code_param, code, lo, hi))
                covered = key in empty or any(lo <= d <= hi for d in have)
                out.append(Unit(f"{code} {lo:%Y%m}", lo, covered))
        return out

    def gap(self, ctx: Context, spec: DatasetSpec, scope: Scope) -> Gap | None:
        """The named codes' windows in scope whose call is not done: the lake holds a code's rows
        only where a call asked for that code, so a request naming no code cannot be answered."""
        param = self.code_column(spec)
        if not scope.codes:
            return Gap(
                spec.name,
                "codes",
                [f"a whole-market call (name {param}: the lake holds the codes it was asked for)"],
                f"neo download {spec.name} --codes CODE",
            )
        _, lo, hi = ctx.bounds(spec, scope)
        done = done_requests(ctx.entries(spec).values())
        last = ctx.last_available(spec, hi)
        missing: list[str] = []
        starts: list[date] = []
        for code in scope.codes:
            for wlo, whi in windows(lo, max(lo, hi), spec.window):
                if wlo > last:
                    break
                if request_key(window_params(param, code, wlo, whi)) not in done:
                    missing.append(f"{code} {wlo:%Y%m%d}-{whi:%Y%m%d}")
                    starts.append(wlo)
        if not missing:
            return None
        window = f"--start {min(starts):%Y%m%d} --end {hi:%Y%m%d}"
        return Gap(
            spec.name,
            "windows",
            missing,
            f"neo download {spec.name} --codes {','.join(scope.codes)} {window}",
        )
