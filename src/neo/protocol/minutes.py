"""Minute-bar requests (stk_mins, idx_mins): which bars start_date and end_date select. One rule for
the simulator (`neo.sim.minutes`) and `neo serve`, so that both cut a window at the same bar.

MINUTES.md: the bounds are moments, 'YYYY-MM-DD HH:MM:SS' Beijing time, bounding trade_time (the
bar's end) inclusively. They are compared with trade_time as text, as a database compares such
strings: a bare date as start_date takes its whole day, as end_date it leaves its day out ("<
end_date", unverified; the simulator's `bare_end_inclusive` option includes it), and 'YYYYMMDD' is
read as 'YYYY-MM-DD'. Without either bound, the last ten calendar days up to today (unverified).
One code per request (a comma list is unverified, so refused).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from neo.datasets import FIRST_BAR_END, LAST_BAR_END
from neo.protocol.core import Filter, ProtocolError, Query, split_values

__all__ = [
    "DEFAULT_DAYS",
    "MSG_ONE_CODE",
    "WIRE_FORMAT",
    "bound_moments",
    "bounded",
    "days",
    "iso_day",
    "moment",
    "window",
]

DEFAULT_DAYS = 10  # calendar days answered without start_date and end_date
WIRE_FORMAT = "%Y-%m-%d %H:%M:%S"  # trade_time in a reply, and what the bounds are compared with
# The simulator's wording (code -1000, like a bad freq): no reply to a comma list is on record.
MSG_ONE_CODE = "ts_code takes one code, not {value!r}"
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def moment(value: object) -> str | None:
    """A start_date/end_date as text to compare trade_time with; 'YYYYMMDD' read as 'YYYY-MM-DD'."""
    if value is None:
        return None
    text = str(value).strip()
    if len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text


def window(
    params: Mapping[str, Any],
    today: date,
    default_days: int | None = DEFAULT_DAYS,
    bare_end_inclusive: bool = False,
) -> tuple[str, str]:
    """The (lo, hi) text a request's trade_times lie between, inclusive. `today` closes a request
    without bounds: the simulator's is its market's last day, `neo serve`'s the real one."""
    lo, hi = moment(params.get("start_date")), moment(params.get("end_date"))
    if lo is None and hi is None and default_days:
        first = today - timedelta(days=default_days - 1)
        return first.isoformat(), f"{today.isoformat()} 23:59:59"
    if hi is not None and len(hi) == 10 and bare_end_inclusive:
        hi += " 23:59:59"
    return lo or "", hi or "9999"  # an open end: text below / above every trade_time


def iso_day(text: str) -> date | None:
    """The day a bound's text starts with ('YYYY-MM-DD...'), None when it does not start with one
    (only that shape: its text orders as its day does)."""
    if not _DAY.match(text):
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def days(lo: str, hi: str) -> tuple[date | None, date | None]:
    """The first and last day whose bars may lie in [lo, hi] (None: that end is open). A bound
    after a day's last bar (15:00) starts with the next day, one before its first (09:30) ends
    with the day before: '2024-01-05 16:00:00' to '2024-01-08' is 2024-01-06 to 2024-01-07."""
    first, last = iso_day(lo), iso_day(hi)
    if first is not None and f"{first.isoformat()} {LAST_BAR_END:%H:%M:%S}" < lo:
        first += timedelta(days=1)
    if last is not None and f"{last.isoformat()} {FIRST_BAR_END:%H:%M:%S}" > hi:
        last -= timedelta(days=1)
    return first, last


def bounded(query: Query, today: date) -> Query:
    """`query` as `neo serve` answers it: its one code and its window of bars (open ends closed as
    of `today`) are its only filters; other params are ignored, as the simulator ignores them."""
    codes = split_values(query.params["ts_code"])
    if len(codes) > 1:
        raise ProtocolError(-1000, MSG_ONE_CODE.format(value=",".join(codes)))
    lo, hi = window(query.params, today)
    column = query.rule.range_column
    assert column is not None  # a rule with moments bounds its range column
    return dataclasses.replace(query, filters=(Filter("ts_code", tuple(codes)), Filter(column, lo=lo, hi=hi)))


def bound_moments(lo: str, hi: str) -> tuple[datetime | None, datetime | None]:
    """[lo, hi] on the timestamps themselves, half open, implied by the text comparison: from the
    start of lo's day to the end of hi's day (None: that end open)."""
    first, last = iso_day(lo), iso_day(hi)
    return (
        datetime.combine(first, datetime.min.time()) if first is not None else None,
        datetime.combine(last + timedelta(days=1), datetime.min.time()) if last is not None else None,
    )
