"""The lake as a data source of the protocol: a normalised `Query` translated into SQL over the
dataset's DuckDB view, rows back as the wire carries them.

The view (`neo.lake.catalog`) holds one row per key, so a versioned dataset (statements, forecasts)
answers every version the lake holds, as Tushare does. Filters follow the protocol's rules
(`neo.protocol.core.Filter`): ts_code lists, a trade_date list or a start_date/end_date range on the
API's range column, report periods, exact filters on any other column, aliases. Values are bound as
parameters, never spliced into the SQL. Dates go out as 'YYYYMMDD' text, minute bars' trade_time as
'YYYY-MM-DD HH:MM:SS' text (their bounds compare with that text: `neo.protocol.minutes`), NaN and
NULL as null, integers as integers. Order is newest first on the API's date column, then the
dataset's key, so that limit/offset pages of the same request never overlap.

`Lake` keeps the lake's read model (`neo.lake.model.LakeModel`: its views, the files each dataset
has live, the calendar, the ledger's entries) and builds a new one when the lake changes (a file
registered, a compaction committed, a request done); each thread queries through its own cursor.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import duckdb
import pyarrow as pa

from neo.core.config import Settings
from neo.datasets import DATASETS, DatasetSpec, spec_for_api
from neo.lake import manifest
from neo.lake.engine import q
from neo.lake.model import LakeModel
from neo.protocol.core import Filter, Page, Query
from neo.protocol.minutes import WIRE_FORMAT, bound_moments

__all__ = ["Lake", "LakeSource", "Signature", "dataset_of", "order_by", "order_keys", "parse_ymd"]

Signature = tuple[tuple[int, int, int], ...]  # a stamp (mtime, inode, size) per watched file


def parse_ymd(text: str) -> date | None:
    """'YYYYMMDD' as a date, None for anything else."""
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        return None


def _stamp(path: str) -> tuple[int, int, int]:
    """What changes when a file is written or replaced: its mtime, inode and size."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return (0, 0, 0)
    return (st.st_mtime_ns, st.st_ino, st.st_size)


class Lake:
    """The lake's views in an in-memory DuckDB, rebuilt when the lake changes; a cursor per thread.

    `signature()` changes whenever the live files do (a manifest: compaction, new generation; a
    generation's record: a file registered) or the ledger does (a request done or failed): a few
    stat calls, cheap enough to check on every request; within `pinned()` a thread sees the one
    taken on entry."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._local = threading.local()
        self._model: LakeModel | None = None
        self._model_sig: Signature | None = None
        ledger = settings.ledger_path
        self._ledger_files = [str(ledger), str(ledger.with_name(ledger.name + "-wal"))]
        self._manifests = [str(manifest.path(settings.lake_dir, spec)) for spec in DATASETS.values()]
        self._records: tuple[Signature, list[str]] = ((), [])

    def _current_records(self, manifests: Signature) -> list[str]:
        """The record each dataset registers new files in: its current generation's, which the
        manifests say (earlier generations' records no longer grow)."""
        if self._records[0] != manifests:
            lake = self.settings.lake_dir
            paths = [
                str(manifest.record_path(lake, spec, manifest.read(lake, spec).state.generation))
                for spec in DATASETS.values()
            ]
            self._records = (manifests, paths)
        return self._records[1]

    def signature(self) -> Signature:
        pinned: Signature | None = getattr(self._local, "pinned", None)
        if pinned is not None:
            return pinned
        manifests = tuple(_stamp(p) for p in self._manifests)
        records = tuple(_stamp(p) for p in self._current_records(manifests))
        return manifests + records + tuple(_stamp(p) for p in self._ledger_files)

    @contextlib.contextmanager
    def pinned(self) -> Iterator[None]:
        """Within the block this thread sees the signature taken on entry: one set of stat calls
        per request however many checks read it. What a request then reads is at least as new as
        that signature, so whatever is cached under it is never older than it says."""
        local = self._local
        if getattr(local, "pinned", None) is not None:  # nested: the outer block decides
            yield
            return
        local.pinned = self.signature()
        try:
            yield
        finally:
            local.pinned = None

    def model(self) -> LakeModel:
        """The read model of the lake as the signature says it is: built once per change. A model
        replaced is not closed: a request may still read through it (its connections close when
        the last cursor on them goes)."""
        sig = self.signature()
        with self._lock:
            if self._model is None or self._model_sig != sig:
                self._model = LakeModel(self.settings)
                self._model_sig = sig
            return self._model

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor on the current model's views."""
        model = self.model()
        local = self._local
        if getattr(local, "model", None) is not model:
            local.cursor = model.views().cursor()
            local.model = model
        return local.cursor  # type: ignore[no-any-return]

    def sql(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.cursor().execute(sql, params or []).fetchall()

    def columns(self, sql: str, params: list[Any]) -> dict[str, Any]:
        """The result as numpy columns: converting whole columns at once (`tolist`) is about
        twice as fast as DuckDB building a Python tuple per row."""
        return self.cursor().execute(sql, params).fetchnumpy()  # type: ignore[no-any-return]

    def relation(self, spec: DatasetSpec) -> str:
        """What to read `spec` from: its view, which reads files as they are where no key can
        repeat (catalog.dataset_view)."""
        return q(spec.name)

    def close(self) -> None:
        with self._lock:
            if self._model is not None:
                self._model.close()
                self._model = None


def dataset_of(query: Query) -> DatasetSpec | None:
    """The dataset a query reads: its API's, for a minute API the one of the request's freq."""
    freq = query.params.get("freq")
    return spec_for_api(query.api, None if freq is None else str(freq))


def _select_list(spec: DatasetSpec, names: tuple[str, ...]) -> str:
    types = {f.name: f.type for f in spec.fields}
    out = []
    for name in names:
        typ = types.get(name)
        col = q(name)
        if typ is None:
            out.append(f"NULL AS {col}")
        elif typ == pa.date32():
            out.append(f"strftime({col}, '%Y%m%d') AS {col}")
        elif pa.types.is_timestamp(typ):
            out.append(f"strftime({col}, '{WIRE_FORMAT}') AS {col}")
        elif pa.types.is_floating(typ):
            out.append(f"nullif({col}, 'NaN'::DOUBLE) AS {col}")  # DuckDB's NaN equals NaN
        else:
            out.append(col)
    return ", ".join(out)


def _where(spec: DatasetSpec, query: Query) -> tuple[list[str], list[Any]]:
    """SQL conditions and their parameters. A filter on a column the dataset lacks is dropped
    (unknown params are ignored); a number never equals a param's text, like the simulator."""
    types = {f.name: f.type for f in spec.fields}
    conds: list[str] = []
    args: list[Any] = []
    filters = list(query.filters)
    if query.periods is not None:
        filters.append(Filter("end_date", query.periods))
    for f in filters:
        typ = types.get(f.column)
        if typ is None:
            continue
        col = q(f.column)
        if typ == pa.date32():
            if f.is_range:
                lo, hi = f.lo or "", f.hi or "99999999"
                lo_d, hi_d = parse_ymd(lo), parse_ymd(hi)
                if (lo and lo_d is None) or (hi != "99999999" and hi_d is None):
                    # Not dates: compare as the simulator does, as text.
                    conds.append(f"strftime({col}, '%Y%m%d') BETWEEN ? AND ?")
                    args += [lo, hi]
                    continue
                if lo_d is not None:
                    conds.append(f"{col} >= ?")
                    args.append(lo_d)
                if hi_d is not None:
                    conds.append(f"{col} <= ?")
                    args.append(hi_d)
            else:
                days = [d for d in (parse_ymd(v) for v in f.values) if d is not None]
                conds.append(f"{col} IN ({', '.join('?' * len(days))})" if days else "FALSE")
                args += days
        elif pa.types.is_string(typ):
            conds.append(f"{col} IN ({', '.join('?' * len(f.values))})" if f.values else "FALSE")
            args += list(f.values)
        elif pa.types.is_timestamp(typ):
            # Moments (minute bars' trade_time) compare as text, as the simulator compares them
            # (neo.protocol.minutes); the days of the bounds, which that comparison implies, also
            # bound the column itself so that row groups of other days are skipped.
            text = f"strftime({col}, '{WIRE_FORMAT}')"
            if f.is_range:
                lo, hi = f.lo or "", f.hi or "9999"
                conds.append(f"{text} BETWEEN ? AND ?")
                args += [lo, hi]
                start, stop = bound_moments(lo, hi)
                if start is not None:
                    conds.append(f"{col} >= ?")
                    args.append(start)
                if stop is not None:
                    conds.append(f"{col} < ?")
                    args.append(stop)
            else:
                conds.append(f"{text} IN ({', '.join('?' * len(f.values))})" if f.values else "FALSE")
                args += list(f.values)
        else:
            conds.append("FALSE")
    return conds, args


def order_keys(spec: DatasetSpec, query: Query) -> list[tuple[str, bool]]:
    """The order of an answer, as (column, descending), nulls last: newest first on the API's date
    column (per-period APIs: newest period first), then the key."""
    keys: list[tuple[str, bool]] = []
    if query.rule.per_period:
        keys.append(("end_date", True))
    dc = query.rule.date_column
    if dc is not None and dc in spec.field_names:
        keys.append((dc, True))
    if "ts_code" in spec.field_names:
        keys.append(("ts_code", False))
    # The rest of the key makes the order total: pages of one request never overlap.
    keys += [(k, False) for k in spec.key if k not in ("ts_code", dc)]
    return keys


def order_by(spec: DatasetSpec, query: Query) -> str:
    """order_keys as SQL."""
    return ", ".join(f"{q(c)} {'DESC' if desc else 'ASC'} NULLS LAST" for c, desc in order_keys(spec, query))


class LakeSource:
    """Answers a query from the lake's views."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def sql(self, query: Query) -> tuple[str, list[Any]]:
        spec = dataset_of(query)
        if spec is None:
            raise LookupError(query.api)
        conds, args = _where(spec, query)
        where = f" WHERE {' AND '.join(conds)}" if conds else ""
        sql = (
            f"SELECT {_select_list(spec, query.names)} FROM {self.lake.relation(spec)}{where} "
            f"ORDER BY {order_by(spec, query)} LIMIT ? OFFSET ?"
        )
        # One row past the page says whether more follow.
        return sql, [*args, query.limit + 1, query.offset]

    def page(self, query: Query) -> Page:
        sql, args = self.sql(query)
        cols = self.lake.columns(sql, args)
        values = [_wire(c) for c in cols.values()]
        rows = list(zip(*values, strict=True)) if values else []
        more = len(rows) > query.limit
        return Page(list(query.names), rows[: query.limit] if more else rows, more)


def _wire(column: Any) -> list[Any]:
    """A numpy column as Python values; DuckDB hands nullable columns over as masked arrays, whose
    tolist() gives None where masked."""
    return column.tolist()  # type: ignore[no-any-return]
