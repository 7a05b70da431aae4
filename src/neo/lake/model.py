"""The read model: what the lake holds, read once per command or request.

Planning, `neo status`, `neo verify`, `neo report`, `neo migrate` and `neo serve`'s coverage check
all ask a LakeModel: the trade calendar, the stock list, the ledger's entries, and each dataset's
live files and what they hold (their rows, dates and download times, the dates and codes present).
It reads each of these once, when first asked, through one in-memory DuckDB connection, and writes
nothing: the ledger is opened read-only unless the caller hands in its own. A command builds one;
`neo serve` builds a new one when the lake changes.

What the manifest records for each file (rows, box, download time) answers `stats` without
reading any data; only what is present by date (gap detection) is a query, one per dataset.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from typing import Any

import duckdb

from neo.core.config import Settings
from neo.datasets import DATASETS, DatasetSpec, opted_out
from neo.lake import catalog, engine, layout, manifest
from neo.lake.engine import q
from neo.lake.ledger import Entry, Ledger


@dataclass(frozen=True)
class Stats:
    """A dataset's live files as `neo status` shows them: rows in them (not deduplicated), files,
    the first and last date they hold, when they were last downloaded."""

    rows: int
    files: int
    first: date | datetime | None
    last: date | datetime | None
    updated: datetime | None


class LakeModel:
    def __init__(self, settings: Settings, ledger: Ledger | None = None) -> None:
        self.settings = settings
        self.lake = settings.lake_dir
        self._ledger = ledger
        self._lock = threading.Lock()
        self._cache: dict[Any, Any] = {}

    # -- plumbing ---------------------------------------------------------------------------------

    def _once(self, key: Any, build: Any) -> Any:
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        value = build()
        with self._lock:
            return self._cache.setdefault(key, value)

    @cached_property
    def ledger(self) -> Ledger:
        return self._ledger or Ledger(self.settings.ledger_path, read_only=True)

    @cached_property
    def db(self) -> duckdb.DuckDBPyConnection:
        """The model's DuckDB connection (in memory, no views): for relations over live files."""
        return engine.connect(self.settings)

    def sql(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Rows of `sql`, on a cursor of its own (threads share the model)."""
        cursor = self.db.cursor()
        try:
            return cursor.execute(sql, params or []).fetchall()
        finally:
            cursor.close()

    def views(self) -> duckdb.DuckDBPyConnection:
        """A connection with every view of metadata.db, built from this model's file lists once."""

        def build() -> duckdb.DuckDBPyConnection:
            con = engine.connect(self.settings)
            catalog.create_views(con, self.view_sql())
            return con

        return self._once("views", build)  # type: ignore[no-any-return]

    def view_sql(self) -> dict[str, str]:
        """Every view of metadata.db by name, in creation order, over this model's file lists."""
        return catalog.views(self.lake, {s.name: self.live(s) for s in DATASETS.values()})

    def close(self) -> None:
        if "db" in self.__dict__:
            self.db.close()
        views = self._cache.get("views")
        if views is not None:
            views.close()

    def __enter__(self) -> LakeModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def listed(self) -> list[DatasetSpec]:
        """Every dataset, but the opt-in ones the settings do not ask for while they hold nothing
        (minute bars): what `neo status`, `neo verify` and `neo report` list."""
        return [s for s in DATASETS.values() if not opted_out(s, self.settings) or self.live(s).files]

    # -- the files ----------------------------------------------------------------------------------

    def live(self, spec: DatasetSpec) -> manifest.Live:
        return self._once(("live", spec.name), lambda: manifest.live(self.lake, spec))  # type: ignore[no-any-return]

    def files(self, spec: DatasetSpec) -> str:
        """Every row of the dataset's live files, not deduplicated, as a relation."""
        return catalog.read_files(self.lake, spec, self.live(spec))

    def view(self, spec: DatasetSpec) -> str:
        """The dataset's view (one row per key) as a subquery."""
        return f"({catalog.dataset_view(self.lake, spec, self.live(spec))})"

    def stats(self, spec: DatasetSpec) -> Stats:
        return self._once(("stats", spec.name), lambda: self._stats(spec))  # type: ignore[no-any-return]

    def _stats(self, spec: DatasetSpec) -> Stats:
        files = self.live(spec).files
        known = all(f.rows is not None and f.fetched_at is not None for f in files)
        dated = spec.date_column is not None
        if known and (not dated or all(f.box is not None for f in files if f.rows)):
            boxes = [f.box for f in files if f.rows and f.box is not None]
            updated = max((datetime.fromisoformat(f.fetched_at or "") for f in files), default=None)
            return Stats(
                sum(f.rows or 0 for f in files),
                len(files),
                min((_when(b.dates[0]) for b in boxes), default=None),  # type: ignore[type-var]
                max((_when(b.dates[1]) for b in boxes), default=None),  # type: ignore[type-var]
                updated,
            )
        date_col = q(spec.date_column) if dated else "NULL"  # an older neo's files: read them
        rows, first, last, updated_ms = self.sql(
            f"SELECT count(*), min({date_col}), max({date_col}), epoch_ms(max({q(layout.FETCHED_AT)})) "
            f"FROM {self.files(spec)}"
        )[0]
        when = datetime.fromtimestamp(updated_ms / 1000).astimezone() if updated_ms is not None else None
        return Stats(rows, len(files), first, last, when)

    def rows_by_year(self, spec: DatasetSpec) -> dict[int | None, int]:
        """Rows per year of the date column as the dataset's view shows them (one per key); under
        None the rows without a date (every row of an undated snapshot). From the records when no
        key can repeat across files and each file sits in its year's directory; else counted."""
        live = self.live(spec)
        if (
            layout.is_partitioned(spec)
            and not live.contested()
            and all(f.rows is not None and f.rel.startswith("year=") for f in live.files)
        ):
            out: dict[int | None, int] = {}
            for f in live.files:
                year = int(f.rel[5:9])
                out[year] = out.get(year, 0) + (f.rows or 0)
            return {y: n for y, n in out.items() if n}
        year = f"year({q(spec.date_column)})" if spec.date_column else "NULL::INTEGER"
        return dict(self.sql(f"SELECT {year} AS y, count(*) FROM {self.view(spec)} GROUP BY y"))  # type: ignore[arg-type]

    # -- what the lake holds ------------------------------------------------------------------------

    def calendar(self) -> list[date]:
        """Open days of the SSE calendar in the lake (empty until trade_cal is downloaded)."""
        sql = (
            f"SELECT cal_date FROM {self.view(DATASETS['trade_cal'])} "
            "WHERE exchange = 'SSE' AND is_open = '1' ORDER BY cal_date"
        )
        return self._once("calendar", lambda: [r[0] for r in self.sql(sql)])  # type: ignore[no-any-return]

    def stock_codes(self) -> list[tuple[str, date | None, date | None]]:
        """(ts_code, list_date, delist_date) of every stock in the lake's stock_basic."""
        sql = f"SELECT ts_code, list_date, delist_date FROM {self.view(DATASETS['stock_basic'])} ORDER BY 1"
        return self._once("stocks", lambda: [(r[0], r[1], r[2]) for r in self.sql(sql)])  # type: ignore[no-any-return]

    def entries(self, spec: DatasetSpec) -> dict[str, Entry]:
        """The ledger's entry of each request of the dataset, by request key."""

        def build() -> dict[str, dict[str, Entry]]:
            out: dict[str, dict[str, Entry]] = defaultdict(dict)
            for e in self.ledger.entries():
                out[e.dataset][e.request] = e
            return out

        return self._once("entries", build).get(spec.name, {})  # type: ignore[no-any-return]

    def present(self, spec: DatasetSpec) -> set[date]:
        """Dates with rows in the lake's files (no deduplication needed to know a date is there)."""
        if spec.date_column is None:
            return set()
        col = q(spec.date_column)
        sql = f"SELECT DISTINCT {col} FROM {self.files(spec)} WHERE {col} IS NOT NULL"
        return self._once(("present", spec.name), lambda: {r[0] for r in self.sql(sql)})  # type: ignore[no-any-return]

    def present_by(self, spec: DatasetSpec, column: str) -> dict[str, set[date]]:
        """Per value of `column` (a code), the dates with rows."""
        if spec.date_column is None:
            return {}
        dc = q(spec.date_column)
        sql = f"SELECT DISTINCT {q(column)}, {dc} FROM {self.files(spec)} WHERE {dc} IS NOT NULL"

        def build() -> dict[str, set[date]]:
            out: dict[str, set[date]] = {}
            for code, day in self.sql(sql):
                out.setdefault(code, set()).add(day)
            return out

        return self._once(("present_by", spec.name, column), build)  # type: ignore[no-any-return]


def _when(text: str) -> date | datetime:
    """A box's bound as its column's value: a date, or a timestamp for a dataset dated by time."""
    return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
