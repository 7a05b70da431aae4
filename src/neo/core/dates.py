"""Dates: Tushare writes them as YYYYMMDD, and its day runs on Beijing time."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from neo.core.errors import UsageError

BEIJING = ZoneInfo("Asia/Shanghai")


def beijing_now() -> datetime:
    return datetime.now(BEIJING)


def parse_day(text: str, what: str = "date") -> date:
    try:
        if len(text) != 8 or not text.isdigit():
            raise ValueError
        return datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        raise UsageError(f"bad {what} {text!r}: expected YYYYMMDD, e.g. 20240102") from None


def fmt_day(d: date) -> str:
    return d.strftime("%Y%m%d")


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """'90s', '30m', '24h', '7d', '2w' (a number and one unit)."""
    value, unit = text.strip()[:-1], text.strip()[-1:].lower()
    try:
        if unit not in _UNITS or not value:
            raise ValueError
        seconds = float(value) * _UNITS[unit]
        if seconds < 0:
            raise ValueError
    except ValueError:
        raise UsageError(f"bad duration {text!r}: expected a number and s, m, h, d or w, e.g. 24h") from None
    return timedelta(seconds=seconds)
