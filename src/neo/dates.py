"""Date parsing shared by the CLI and the simulator: Tushare writes dates as YYYYMMDD."""

from __future__ import annotations

from datetime import date, datetime

from neo.errors import UsageError


def parse_day(text: str, what: str = "date") -> date:
    try:
        if len(text) != 8 or not text.isdigit():
            raise ValueError
        return datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        raise UsageError(f"bad {what} {text!r}: expected YYYYMMDD, e.g. 20240102") from None


def fmt_day(d: date) -> str:
    return d.strftime("%Y%m%d")
