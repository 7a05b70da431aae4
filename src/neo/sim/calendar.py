"""Trading calendar of the Shanghai, Shenzhen and Beijing exchanges, as the simulator sees it.

A day is open when it is a weekday (Mon-Fri) and not a Chinese statutory holiday per
``chinese_calendar.is_holiday``. The exchanges stay closed on the weekend "make-up workdays"
(调休上班日), which the weekday rule already covers, so ``is_workday`` is deliberately not used.

``chinese_calendar`` only knows a fixed span of years (2004-2026 for version 1.11) and raises
``NotImplementedError`` outside it. There the calendar falls back to the plain weekday rule:
the simulator must still run for any range, and a missing holiday there only adds a few open days.

All answers are cached per year, so the functions are cheap to call repeatedly and safe to call
from several threads (the caches hold immutable tuples built deterministically).
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools

import chinese_calendar

__all__ = [
    "is_open",
    "next_open_day",
    "open_days",
    "prev_open_day",
    "supported",
    "ymd",
]

_ONE_DAY = dt.timedelta(days=1)

# Days the exchanges closed although they were statutory workdays: the exchanges' own holiday
# notices add them (2024: the exchanges also closed on New Year's Eve, Friday 9 February).
EXCHANGE_CLOSED = frozenset({dt.date(2024, 2, 9)})


@functools.cache
def supported(year: int) -> bool:
    """True when chinese_calendar has holiday data for ``year`` (else the weekday rule applies)."""
    try:
        chinese_calendar.is_holiday(dt.date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


@functools.cache
def _year_open_days(year: int) -> tuple[dt.date, ...]:
    first = dt.date(year, 1, 1)
    days = (first + dt.timedelta(days=i) for i in range((dt.date(year + 1, 1, 1) - first).days))
    if supported(year):
        return tuple(
            d
            for d in days
            if d.weekday() < 5 and not chinese_calendar.is_holiday(d) and d not in EXCHANGE_CLOSED
        )
    return tuple(d for d in days if d.weekday() < 5)


@functools.cache
def _year_open_set(year: int) -> frozenset[dt.date]:
    return frozenset(_year_open_days(year))


def is_open(d: dt.date) -> bool:
    """Whether the exchanges trade on ``d``."""
    return d in _year_open_set(d.year)


def open_days(start: dt.date, end: dt.date) -> list[dt.date]:
    """Open days in ``[start, end]`` (inclusive), ascending; empty when ``start > end``."""
    out: list[dt.date] = []
    for year in range(start.year, end.year + 1):
        days = _year_open_days(year)
        lo = bisect.bisect_left(days, start) if year == start.year else 0
        hi = bisect.bisect_right(days, end) if year == end.year else len(days)
        out.extend(days[lo:hi])
    return out


def prev_open_day(d: dt.date) -> dt.date:
    """The last open day strictly before ``d``."""
    year = d.year
    days = _year_open_days(year)
    i = bisect.bisect_left(days, d)
    # A year always has open days, so stepping back one year is enough.
    return days[i - 1] if i > 0 else _year_open_days(year - 1)[-1]


def next_open_day(d: dt.date, *, inclusive: bool = False) -> dt.date:
    """The first open day after ``d`` (or on ``d`` when ``inclusive`` and ``d`` is open)."""
    days = _year_open_days(d.year)
    i = bisect.bisect_left(days, d) if inclusive else bisect.bisect_right(days, d)
    return days[i] if i < len(days) else _year_open_days(d.year + 1)[0]


@functools.lru_cache(maxsize=1 << 16)
def ymd(d: dt.date) -> str:
    """``d`` as 'YYYYMMDD'; cached so that equal dates share one ``str`` object in big frames."""
    return f"{d.year:04d}{d.month:02d}{d.day:02d}"
