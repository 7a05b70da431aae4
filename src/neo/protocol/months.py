"""Whole months of the lake's dated datasets kept in memory, for `neo serve`'s requests by date.

Bar APIs are mostly asked by day: `daily(trade_date=...)` for the whole market, then the next day.
From Parquet every such request is a DuckDB query that decodes the month around the day (compacted
files are sorted by month, then stock: a day's rows are spread over the month's row groups). Here
a request naming its dates (a date list, or a start_date/end_date range) of a dataset partitioned by
that date column is answered from the months it covers instead: each month is read once (one query,
rows in the protocol's order: newest day first, then the key) and kept as numpy columns, so a day is
a slice of it, as in the simulator. Rows go out as JSON rendered once per day and field list, so a
reply is put together by joining bytes rather than by converting values in Python.

Exact, like the reply cache: a month is used only while its dataset's manifest and the files of its
year partition (names and inodes) are what they were when it was read. A download (a new file), a
compaction (a new manifest) or a vacuum (a file gone) makes the next request read the month again.
Bounded: beyond `limit` bytes the least recently used months are dropped.

Which requests: the API ranges on the dataset's date column (bars, limits, suspensions, money flow,
indices; not statements), the dates are valid YYYYMMDD, other filters are on text columns (ts_code,
index_code...), and with such filters the request spans at most SPARSE_MONTHS months (one stock's
rows are a sliver of a month: reading years of months for them would cost more than Parquet does).
Anything else is read from Parquet (`neo.protocol.lake.LakeSource`), with the same answer.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from neo.datasets import DatasetSpec
from neo.lake import layout, manifest
from neo.lake.catalog import relation
from neo.lake.engine import q
from neo.protocol.core import EncodedPage, Query
from neo.protocol.lake import Lake, order_keys, parse_ymd

__all__ = ["SPARSE_MONTHS", "Month", "Months"]

SPARSE_MONTHS = 3  # months a request with filters besides its dates may span and be answered here
# A day is rendered whole (and kept) once a request wants this share of its rows; fewer rows (one
# stock's day) are rendered alone and not kept.
RENDER_SHARE = 0.25
_OBJECT = 16  # bytes per pointer of an object array, with room

YearMonth = tuple[int, int]


@dataclass
class Month:
    """One month of a dataset, its rows in the protocol's order."""

    stamp: Hashable  # the dataset's files when it was read
    columns: dict[str, np.ndarray]  # wire values: 'YYYYMMDD' text dates, None or NaN for missing
    days: list[str]  # the dates it holds, newest first
    starts: np.ndarray  # the row each day starts at, then the row count
    size: int  # bytes, estimated
    # By field list, by day: the day's rows as JSON arrays joined by commas, and where each row
    # starts in that text (then its length + 1). One text per day, not one bytes object per row:
    # orjson's small results each hold a 4 KB buffer.
    rendered: dict[tuple[str, ...], dict[int, tuple[bytes, np.ndarray]]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Plan:
    """Which rows of which months answer a query."""

    months: list[YearMonth]  # newest first
    days: frozenset[str] | None  # the dates named, or None for the range lo..hi
    lo: str
    hi: str
    match: tuple[tuple[str, frozenset[str]], ...]  # text columns and the values they must hold

    def picked(self, days: list[str]) -> list[int]:
        """Which of a month's days (by index) the plan wants."""
        if self.days is not None:
            return [i for i, d in enumerate(days) if d in self.days]
        return [i for i, d in enumerate(days) if self.lo <= d <= self.hi]

    def rows(self, month: Month) -> np.ndarray:
        """The month's rows for this plan, in order."""
        picked = self.picked(month.days)
        if not picked:
            return np.empty(0, dtype=np.int64)
        rows = np.concatenate([np.arange(month.starts[i], month.starts[i + 1]) for i in picked])
        for column, values in self.match:
            if not len(rows):
                break
            held = month.columns[column][rows].tolist()
            rows = rows[np.fromiter((v in values for v in held), dtype=bool, count=len(held))]
        return rows


class Months:
    """Months of the lake in memory, least recently used dropped beyond `limit` bytes. Thread-safe."""

    def __init__(self, lake: Lake, limit: int) -> None:
        self.lake = lake
        self.limit = limit
        self.size = 0
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, YearMonth], Month] = OrderedDict()
        self._gates: dict[tuple[str, YearMonth], threading.Lock] = {}
        # Every month read, by stamp: its days and where they start (a few hundred bytes), kept
        # when the month is dropped, so that paging deep into a long range skips the months before
        # the page without reading them again.
        self._shapes: dict[tuple[str, YearMonth], tuple[Hashable, list[str], np.ndarray]] = {}

    def page(self, spec: DatasetSpec, query: Query) -> EncodedPage | None:
        """The page of `query` from memory, or None when it is not a request this answers."""
        plan = self._plan(spec, query)
        if plan is None:
            return None
        stop = query.offset + query.limit
        picked: list[tuple[Month, np.ndarray, int]] = []  # a month, its rows, the rows before them
        total = 0
        stamps: dict[int, Hashable] = {}
        for ym in plan.months:
            if ym[0] not in stamps:
                stamps[ym[0]] = self._stamp(spec, ym[0])
            before = self._rows_before(spec, plan, ym, stamps[ym[0]])
            if before is not None and total + before <= query.offset:
                total += before  # all before the page
                continue
            month = self._month(spec, query, ym, stamps[ym[0]])
            rows = plan.rows(month)
            if len(rows):
                picked.append((month, rows, total))
                total += len(rows)
            if total > stop:  # the page and one row past it: whether more follow is known
                break
        pieces: list[bytes] = []
        for month, rows, seen in picked:
            lo, hi = max(query.offset - seen, 0), min(stop - seen, len(rows))
            if lo < hi:
                pieces += self._json(month, query.names, rows[lo:hi])
        return EncodedPage(list(query.names), b"[" + b",".join(pieces) + b"]", total > stop)

    # -- which requests ---------------------------------------------------------------------------

    def _plan(self, spec: DatasetSpec, query: Query) -> _Plan | None:
        dc = spec.date_column
        if (
            self.limit <= 0
            or dc is None
            or not layout.is_partitioned(spec)
            or query.rule.per_period
            or query.rule.date_column != dc
            or not _supported(spec)
        ):
            return None
        types = {f.name: f.type for f in spec.fields}
        dated = [f for f in query.filters if f.column == dc]
        if len(dated) != 1:
            return None
        match: list[tuple[str, frozenset[str]]] = []
        for f in query.filters:
            typ = types.get(f.column)
            if f.column == dc or typ is None:  # a column the dataset lacks filters nothing
                continue
            if not pa.types.is_string(typ) or f.is_range:
                return None  # numbers and other dates: Parquet's answer (SQL) decides
            match.append((f.column, frozenset(f.values)))
        when = dated[0]
        days: frozenset[str] | None = None
        lo, hi = "", "99999999"
        if when.is_range:
            lo, hi = when.lo or "", when.hi or "99999999"
            lo_d, hi_d = parse_ymd(lo), parse_ymd(hi)
            if (lo and lo_d is None) or (hi != "99999999" and hi_d is None):
                return None  # not dates: compared as text by the SQL
            years = self._years(spec)
            if not years:
                return _Plan([], None, lo, hi, tuple(match))
            first = lo_d or date(min(years), 1, 1)
            last = hi_d or date(max(years), 12, 31)
            months = _between(first, last)
        else:
            named = [d for d in (parse_ymd(v) for v in when.values) if d is not None]
            days = frozenset(f"{d:%Y%m%d}" for d in named)
            months = sorted({(d.year, d.month) for d in named}, reverse=True)
        if match and len(months) > SPARSE_MONTHS:
            return None
        return _Plan(months, days, lo, hi, tuple(match))

    def _years(self, spec: DatasetSpec) -> list[int]:
        """The years the dataset has a partition for."""
        try:
            names = os.listdir(layout.dataset_dir(self.lake.settings.lake_dir, spec))
        except FileNotFoundError:
            return []
        return [int(n[5:]) for n in names if n.startswith("year=") and n[5:].isdigit()]

    # -- months -----------------------------------------------------------------------------------

    def _stamp(self, spec: DatasetSpec, year: int) -> Hashable:
        """What the dataset's rows of `year` are read from: its live files of that year, by name
        and inode (a file replaced under its name has a new inode), and which of them may share
        keys (those are read through the view's latest-wins window)."""
        lake = self.lake.settings.lake_dir
        live = manifest.live(lake, spec)
        prefix = f"year={year}/"
        names = {f.rel[len(prefix) :] for f in live.files if f.rel.startswith(prefix)}
        try:
            with os.scandir(layout.partition_dir(lake, spec, year)) as it:
                files = frozenset((e.name, e.inode()) for e in it if e.name in names)
        except FileNotFoundError:
            files = frozenset()
        contested = frozenset(rel for rel in live.contested() if rel.startswith(prefix))
        return (files, contested)

    def _rows_before(self, spec: DatasetSpec, plan: _Plan, ym: YearMonth, stamp: Hashable) -> int | None:
        """How many rows of a month the plan wants, when that is known without the month: a plan
        on dates alone, a month read before under this stamp."""
        shape = self._shapes.get((spec.name, ym))
        if plan.match or shape is None or shape[0] != stamp:
            return None
        _, days, starts = shape
        return sum(int(starts[i + 1] - starts[i]) for i in plan.picked(days))

    def _month(self, spec: DatasetSpec, query: Query, ym: YearMonth, stamp: Hashable) -> Month:
        key = (spec.name, ym)
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and hit.stamp == stamp:
                self._entries.move_to_end(key)
                return hit
            gate = self._gates.setdefault(key, threading.Lock())
        with gate:  # one thread reads a month; the others wanting it wait for it
            with self._lock:
                hit = self._entries.get(key)
                if hit is not None and hit.stamp == stamp:
                    return hit
            month = self._read(spec, query, ym, stamp)
            with self._lock:
                self._shapes[key] = (stamp, month.days, month.starts)
                old = self._entries.pop(key, None)
                if old is not None:
                    self.size -= old.size
                if month.size <= self.limit:
                    self._entries[key] = month
                    self.size += month.size
                    self._evict()
        return month

    def _read(self, spec: DatasetSpec, query: Query, ym: YearMonth, stamp: Hashable) -> Month:
        year, mon = ym
        relation = self._relation(spec, year)
        if relation is None:
            return _empty(spec, stamp)
        dc = q(spec.date_column or "")
        cols = ", ".join(q(f.name) for f in spec.fields)
        first = date(year, mon, 1)
        after = date(year + 1, 1, 1) if mon == 12 else date(year, mon + 1, 1)
        sql = f"SELECT {cols} FROM {relation} WHERE {dc} >= ? AND {dc} < ?"
        table = self.lake.cursor().sql(sql, params=[first, after]).to_arrow_table()
        # Sorted by Arrow rather than by the SQL: a third of the time on a month of daily.
        keys = [(c, "descending" if desc else "ascending") for c, desc in order_keys(spec, query)]
        return _month(spec, _sorted(table, keys), stamp)

    def _relation(self, spec: DatasetSpec, year: int) -> str | None:
        """What to read a month of `year` from: that year's live files while none of them may share
        a key with another file (as the view reads them, without its other years), else the
        dataset's view (latest wins). Decided after the stamp was taken, so what is read is at
        least as new as the stamp."""
        lake = self.lake.settings.lake_dir
        live = manifest.live(lake, spec)
        prefix = f"year={year}/"
        files = [f for f in live.files if f.rel.startswith(prefix)]
        if not files:
            return None
        contested = live.contested()
        if any(f.rel in contested for f in files):
            return q(spec.name)
        return relation(lake, spec, files)

    def _evict(self) -> None:
        while self.size > self.limit and self._entries:  # a request using a month dropped keeps it
            self.size -= self._entries.popitem(last=False)[1].size

    # -- rows as JSON -----------------------------------------------------------------------------

    def _json(self, month: Month, names: tuple[str, ...], rows: np.ndarray) -> list[bytes]:
        """Rows as JSON arrays of `names`, in pieces of one or more rows to join by commas: taken
        from the month's rendered days, rendering whole days (kept) when the request wants a good
        part of them, else just its rows."""
        out: list[bytes] = []
        day = np.searchsorted(month.starts, rows, side="right") - 1
        for part in np.split(rows, np.flatnonzero(np.diff(day)) + 1):
            i = int(np.searchsorted(month.starts, part[0], side="right") - 1)
            a, b = int(month.starts[i]), int(month.starts[i + 1])
            done = month.rendered.get(names, {}).get(i)
            if done is None:
                if len(part) < RENDER_SHARE * (b - a):
                    out.append(b",".join(_render(month, names, part)))
                    continue
                done = self._keep(month, names, i, _render(month, names, slice(a, b)))
            text, starts = done
            local = part - a
            if local[-1] - local[0] + 1 == len(local):  # consecutive rows: one slice of the day
                out.append(text[starts[local[0]] : starts[local[-1] + 1] - 1])
            else:
                out += [text[starts[r] : starts[r + 1] - 1] for r in local.tolist()]
        return out

    def _keep(
        self, month: Month, names: tuple[str, ...], day: int, rows: list[bytes]
    ) -> tuple[bytes, np.ndarray]:
        text = b",".join(rows)
        starts = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, rows), dtype=np.int64, count=len(rows)) + 1, out=starts[1:])
        with self._lock:
            days = month.rendered.setdefault(names, {})
            if day in days:  # another thread rendered it meanwhile
                return days[day]
            days[day] = (text, starts)
            grown = len(text) + starts.nbytes + 200
            month.size += grown
            if any(m is month for m in self._entries.values()):
                self.size += grown
                self._evict()
        return text, starts


def _supported(spec: DatasetSpec) -> bool:
    """Whether every column converts to wire values here (dates, numbers, text)."""
    return all(
        f.type == pa.date32()
        or pa.types.is_floating(f.type)
        or pa.types.is_integer(f.type)
        or pa.types.is_string(f.type)
        for f in spec.fields
    )


def _between(first: date, last: date) -> list[YearMonth]:
    """The months from `last` back to `first`."""
    out: list[YearMonth] = []
    y, m = last.year, last.month
    while (y, m) >= (first.year, first.month):
        out.append((y, m))
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return out


def _render(month: Month, names: tuple[str, ...], rows: np.ndarray | slice) -> list[bytes]:
    cols: list[list[Any]] = []
    for name in names:
        column = month.columns.get(name)
        if column is None:  # a field the dataset does not store: null, as the SQL path sends it
            n = len(range(*rows.indices(int(month.starts[-1])))) if isinstance(rows, slice) else len(rows)
            cols.append([None] * n)
        else:
            cols.append(column[rows].tolist())
    return list(map(orjson.dumps, zip(*cols, strict=True)))


def _empty(spec: DatasetSpec, stamp: Hashable) -> Month:
    return Month(
        stamp, {f.name: np.empty(0, dtype=object) for f in spec.fields}, [], np.zeros(1, np.int64), 0
    )


def _month(spec: DatasetSpec, table: pa.Table, stamp: Hashable) -> Month:
    """A month from its rows in order: numpy columns of wire values. Text and dates go through a
    dictionary, so equal values share one Python object (and only distinct ones are made)."""
    columns: dict[str, np.ndarray] = {}
    size = 0
    for f in spec.fields:
        col = table.column(f.name).combine_chunks()
        out: np.ndarray
        if f.type == pa.date32() or pa.types.is_string(f.type):
            coded = pc.dictionary_encode(col, null_encoding="encode")
            values = coded.dictionary.to_pylist()
            if f.type == pa.date32():
                values = [None if d is None else f"{d:%Y%m%d}" for d in values]
            distinct = np.empty(len(values), dtype=object)
            distinct[:] = values
            out = distinct[coded.indices.to_numpy()]
            size += _OBJECT * len(out) + sum(sys.getsizeof(v) for v in values)
        elif pa.types.is_floating(f.type):
            out = col.to_numpy(zero_copy_only=False).astype(np.float64)  # null -> NaN, sent as null
            size += out.nbytes
        elif col.null_count:  # integers with nulls: Python ints and None
            out = np.empty(len(col), dtype=object)
            out[:] = col.to_pylist()
            size += _OBJECT * 2 * len(out)
        else:
            out = col.to_numpy().astype(np.int64)
            size += out.nbytes
        columns[f.name] = out
    dc = spec.date_column
    assert dc is not None
    n = len(columns[dc])
    if n == 0:
        return _empty(spec, stamp)
    day = columns[dc]
    bounds = np.flatnonzero(day[1:] != day[:-1]) + 1
    starts = np.concatenate([[0], bounds, [n]]).astype(np.int64)
    return Month(stamp, columns, [day[i] for i in starts[:-1]], starts, size)


def _sorted(table: pa.Table, keys: list[tuple[str, str]]) -> pa.Table:
    """`table` sorted by `keys`, NULLs last as the SQL orders them. pyarrow 25 wants the null
    placement per key (a global one warns); pyarrow before 25 takes only the global one."""
    try:
        return table.sort_by([(name, order, "at_end") for name, order in keys])
    except ValueError:
        return table.sort_by(keys, null_placement="at_end")
