"""Answering one API call from the simulator's frames: filters, newest-first order, fields, paging.

Frames are sorted once (newest date first, then ts_code) and indexed by date and ts_code, so a
call selects its rows through the indexes and never scans millions of rows.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neo.sim.market import Frame, Market

STATEMENTS = ("income", "balancesheet", "cashflow", "fina_indicator")
MARKET = ("daily", "adj_factor", "daily_basic", "weekly", "monthly")
# The column start_date/end_date filter on, per API (NOTES.md: statements filter on the
# announcement date, fina_indicator on the report period).
RANGE_COLUMN = {
    **{a: "trade_date" for a in MARKET},
    "trade_cal": "cal_date",
    "income": "ann_date",
    "balancesheet": "ann_date",
    "cashflow": "ann_date",
    "fina_indicator": "end_date",
    "forecast": "ann_date",
    "express": "ann_date",
}
# APIs without a start/end range whose rows are still ordered and indexed by a date column; their
# end_date and other date params are exact-match filters.
ORDER_COLUMN = {"dividend": "ann_date", "disclosure_date": "end_date"}
# Params naming a column of another name: `period` selects the report period.
PARAM_COLUMN = {"forecast": {"period": "end_date"}, "express": {"period": "end_date"}}
# Per API (exact name: the _vip variants need none), groups of params of which one must be given.
REQUIRED: dict[str, tuple[tuple[str, ...], ...]] = {
    "forecast": (("ts_code", "ann_date"),),
    "express": (("ts_code",),),
}
# Defaults the real service applies when a param is absent.
DEFAULTS = {
    "stock_basic": {"list_status": "L"},
    "trade_cal": {"exchange": "SSE"},
    "income": {"report_type": "1"},
    "balancesheet": {"report_type": "1"},
    "cashflow": {"report_type": "1"},
}


def base_api(api: str) -> str:
    return api.removesuffix("_vip")


def usable(api: str, params: dict[str, Any]) -> bool:
    """False when a param the API requires is missing (null and "" count as missing)."""
    given = {k for k, v in params.items() if v not in (None, "")}
    return all(given & set(group) for group in REQUIRED.get(api, ()))


@dataclass
class Indexed:
    """A frame sorted newest first, with row-index lists per date and per ts_code."""

    frame: Frame
    date_col: str | None
    by_date: dict[str, np.ndarray] = field(default_factory=dict)
    by_code: dict[str, np.ndarray] = field(default_factory=dict)
    dates: list[str] = field(default_factory=list)  # ascending

    @property
    def n(self) -> int:
        return len(next(iter(self.frame.values())))


def _group(values: np.ndarray) -> dict[str, np.ndarray]:
    keys, inverse = np.unique(values.astype("U"), return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.cumsum(np.bincount(inverse, minlength=len(keys)))[:-1]
    return {str(k): rows for k, rows in zip(keys, np.split(order, bounds), strict=True)}


def index_frame(frame: Frame, date_col: str | None) -> Indexed:
    n = len(next(iter(frame.values())))
    if date_col is not None and n:
        dates_u = np.asarray([d or "" for d in frame[date_col]], dtype="U8")
        codes_u = frame["ts_code"].astype("U") if "ts_code" in frame else np.zeros(n, dtype="U1")
        _, date_rank = np.unique(dates_u, return_inverse=True)
        order = np.lexsort((codes_u, -date_rank))
        frame = {k: v[order] for k, v in frame.items()}
    ix = Indexed(frame, date_col)
    if n and date_col is not None:
        ix.by_date = _group(frame[date_col])
        ix.dates = sorted(ix.by_date)
    if n and "ts_code" in frame:
        ix.by_code = _group(frame["ts_code"])
    return ix


class Tables:
    """Lazily built, indexed frames of one Market; safe to use from many threads."""

    def __init__(self, market: Market) -> None:
        self.market = market
        self._cache: dict[tuple[str, str], Indexed] = {}
        self._lock = threading.Lock()

    def get(self, api: str, period: str = "") -> Indexed:
        key = (api, period)
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None:
            return hit
        if api in STATEMENTS:
            built = index_frame(self.market.statement(api, period), RANGE_COLUMN[api])
        else:
            built = index_frame(self.market.frame(api), RANGE_COLUMN.get(api) or ORDER_COLUMN.get(api))
        with self._lock:
            if api in STATEMENTS and len(self._cache) > 256:  # bound memory of per-period frames
                for k in [k for k in self._cache if k[0] in STATEMENTS][:64]:
                    del self._cache[k]
            return self._cache.setdefault(key, built)


def _values(v: Any) -> list[str]:
    if isinstance(v, list | tuple):
        return [str(x) for x in v]
    return [s.strip() for s in str(v).split(",") if s.strip()]


def select(tables: Tables, api: str, params: dict[str, Any]) -> tuple[Frame, np.ndarray]:
    """Rows of `api` matching `params` (unknown or null params ignored), newest first."""
    base = base_api(api)
    params = {**DEFAULTS.get(base, {}), **{k: v for k, v in params.items() if v not in (None, "")}}
    # Moved aside, not renamed: forecast's end_date param bounds ann_date, period is the end_date.
    aliased = {col: params.pop(name) for name, col in PARAM_COLUMN.get(base, {}).items() if name in params}
    if base in STATEMENTS:
        periods = _values(params["period"]) if "period" in params else tables.market.periods()
        frames, rows = [], []
        for ix in (tables.get(base, p) for p in sorted(periods, reverse=True)):
            r = _rows(ix, params)
            if len(r):
                frames.append(ix.frame)
                rows.append(r)
        return _concat(frames, rows)
    ix = tables.get(base)
    rows = _rows(ix, params, ranged=base in RANGE_COLUMN)
    for col, value in aliased.items():
        rows = _match(ix.frame, rows, col, value)
    return ix.frame, rows


def _rows(ix: Indexed, params: dict[str, Any], ranged: bool = True) -> np.ndarray:
    if ix.n == 0:
        return np.empty(0, dtype=np.int64)
    rows: np.ndarray | None = None
    dc = ix.date_col
    if dc is not None and dc in params:
        rows = _union([ix.by_date.get(d) for d in _values(params[dc])])
    elif ranged and dc is not None and ("start_date" in params or "end_date" in params):
        lo, hi = str(params.get("start_date", "")), str(params.get("end_date", "99999999"))
        rows = _union([ix.by_date[d] for d in ix.dates if lo <= d <= hi])
    if "ts_code" in params and ix.by_code:
        code_rows = _union([ix.by_code.get(c) for c in _values(params["ts_code"])])
        rows = code_rows if rows is None else np.intersect1d(rows, code_rows, assume_unique=True)
    if rows is None:
        rows = np.arange(ix.n)
    for name, value in params.items():
        if name in ("ts_code", "limit", "offset") or name == dc:
            continue
        if ranged and name in ("start_date", "end_date"):
            continue
        rows = _match(ix.frame, rows, name, value)
    return np.sort(rows)  # frames are stored newest first, so row order is answer order


def _match(frame: Frame, rows: np.ndarray, name: str, value: Any) -> np.ndarray:
    """The rows whose column `name` holds one of `value`; unknown params are ignored, like the
    real service."""
    col = frame.get(name)
    if col is None or len(rows) == 0:
        return rows
    wanted = set(_values(value))
    return rows[np.fromiter((x in wanted for x in col[rows]), dtype=bool, count=len(rows))]


def _union(parts: list[np.ndarray | None]) -> np.ndarray:
    arrays = [p for p in parts if p is not None and len(p)]
    if not arrays:
        return np.empty(0, dtype=np.int64)
    return np.sort(np.concatenate(arrays)) if len(arrays) > 1 else arrays[0]


def _concat(frames: list[Frame], rows: list[np.ndarray]) -> tuple[Frame, np.ndarray]:
    if not frames:
        return {}, np.empty(0, dtype=np.int64)
    if len(frames) == 1:
        return frames[0], rows[0]
    merged = {k: np.concatenate([f[k][r] for f, r in zip(frames, rows, strict=True)]) for k in frames[0]}
    # Several periods: order newest report period first, as one frame would be.
    return merged, np.arange(len(next(iter(merged.values()))))
