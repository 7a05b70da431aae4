"""The simulator as a data source of the protocol: a normalised `neo.protocol.Query` answered from
the market's frames (which rows, in which order); the protocol itself (fields, params, rules, paging,
errors) lives in `neo.protocol`.

Frames are sorted once (newest date first, then ts_code) and indexed by date and ts_code, so a
call selects its rows through the indexes and never scans millions of rows. An on-demand API (minute
bars) has no frame: its generator answers the query itself and generates only the page asked for.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neo.protocol.core import Filter, Page, Query
from neo.protocol.rules import base_api, rule_for
from neo.sim.market import Frame, Market
from neo.sim.registry import lookup
from neo.sim.state import Generated

__all__ = [
    "SimSource",
    "Tables",
    "base_api",
    "columns",
    "index_frame",
    "items",
    "page_query",
    "select",
    "select_query",
]


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
        ds, rule = lookup(api), rule_for(api)
        if ds is None or rule is None:
            raise ValueError(f"unknown api {api!r}")
        if rule.per_period:
            built = index_frame(self.market.statement(api, period), rule.date_column)
        else:
            built = index_frame(self.market.frame(api), rule.date_column)
        with self._lock:
            if rule.per_period and len(self._cache) > 256:  # bound memory of per-period frames
                for k in [k for k in self._cache if k[1]][:64]:
                    del self._cache[k]
            return self._cache.setdefault(key, built)


def select(tables: Tables, api: str, params: dict[str, Any]) -> tuple[Frame, np.ndarray]:
    """Rows of `api` matching `params` (unknown or null params ignored), newest first, unpaged.

    Raises ProtocolError (40101 "... required") when a param the API requires is absent."""
    return select_query(tables, Query.build(api, params, [], cap=1))


def select_query(tables: Tables, q: Query) -> tuple[Frame, np.ndarray]:
    """The rows of every page of `q`, newest first: the frame and its row indexes."""
    base = q.base
    gen = _generated(tables, q)
    if gen is not None:
        return gen.rows(0, gen.total), np.arange(gen.total)
    if q.rule.per_period:
        periods = q.periods if q.periods is not None else tables.market.periods()
        frames, rows = [], []
        for ix in (tables.get(base, p) for p in sorted(periods, reverse=True)):
            r = _rows(ix, q.filters)
            if len(r):
                frames.append(ix.frame)
                rows.append(r)
        return _concat(frames, rows)
    ix = tables.get(base)
    return ix.frame, _rows(ix, q.filters)


def page_query(tables: Tables, q: Query) -> tuple[Frame, np.ndarray, int]:
    """The page `q` asks for (offset, limit): the frame, the page's row indexes into it, and how
    many rows all pages hold."""
    gen = _generated(tables, q)
    if gen is not None:
        frame = gen.rows(q.offset, q.offset + q.limit)
        return frame, np.arange(len(next(iter(frame.values())))), gen.total
    frame, rows = select_query(tables, q)
    return frame, rows[q.offset : q.offset + q.limit], len(rows)


def _generated(tables: Tables, q: Query) -> Generated | None:
    """The answer of an on-demand API (rows generated when asked for), None for a framed one."""
    ds = lookup(q.base)
    return ds.build(tables.market, q) if ds is not None and ds.on_demand else None  # type: ignore[return-value]


def columns(frame: Frame, rows: np.ndarray, names: list[str] | tuple[str, ...]) -> list[np.ndarray]:
    return [frame[n][rows] if n in frame else np.full(len(rows), None, dtype=object) for n in names]


def items(cols: list[np.ndarray]) -> list[tuple[Any, ...]]:
    return list(zip(*(c.tolist() for c in cols), strict=True)) if cols and len(cols[0]) else []


class SimSource:
    """The simulator's frames as a protocol data source."""

    def __init__(self, tables: Tables) -> None:
        self.tables = tables

    def page(self, query: Query) -> Page:
        frame, page, total = page_query(self.tables, query)
        names = list(query.names)
        return Page(names, items(columns(frame, page, names)), query.offset + len(page) < total)


def _rows(ix: Indexed, filters: tuple[Filter, ...]) -> np.ndarray:
    if ix.n == 0:
        return np.empty(0, dtype=np.int64)
    rows: np.ndarray | None = None
    dc = ix.date_col
    rest = []
    for f in filters:
        if f.column == dc and dc is not None:
            if f.is_range:
                lo, hi = f.lo or "", f.hi or "99999999"
                picked = _union([ix.by_date[d] for d in ix.dates if lo <= d <= hi])
            else:
                picked = _union([ix.by_date.get(d) for d in f.values])
        elif f.column == "ts_code" and ix.by_code:
            picked = _union([ix.by_code.get(c) for c in f.values])
        else:
            rest.append(f)
            continue
        rows = picked if rows is None else np.intersect1d(rows, picked, assume_unique=True)
    if rows is None:
        rows = np.arange(ix.n)
    for f in rest:
        rows = _match(ix.frame, rows, f.column, f.values)
    return np.sort(rows)  # frames are stored newest first, so row order is answer order


def _match(frame: Frame, rows: np.ndarray, name: str, values: tuple[str, ...]) -> np.ndarray:
    """The rows whose column `name` holds one of `values` (text columns only: a number never
    equals a param's text); a column the frame lacks filters nothing."""
    col = frame.get(name)
    if col is None or len(rows) == 0:
        return rows
    wanted = set(values)
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
