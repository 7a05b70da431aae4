"""What a dataset is: its fields and Arrow types, key, date column, download strategy and row cap.

A DatasetSpec is the single source of a dataset's schema and key: the client casts replies with it,
and the writer, the views, compaction and verify all read it from here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import time
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from neo.core.errors import SchemaError


class Strategy(StrEnum):
    """How the planner covers a dataset with API calls."""

    TRADE_DATE = "trade_date"  # one call per open trade date (whole market per call)
    WEEK_END = "week_end"  # one call per last open day of a week
    MONTH_END = "month_end"  # one call per last open day of a month
    PERIOD = "period"  # one call per report period (quarter end), whole market
    CODE_WINDOWS = "code_windows"  # one call per code (e.g. an index) and calendar year or month
    STOCK_HISTORY = "stock_history"  # one call per stock in stock_basic for its whole history
    SNAPSHOT = "snapshot"  # the whole table each time, replaced as a whole
    MINUTE_BARS = "minute_bars"  # one call per code and window of open days under the row cap


@dataclass(frozen=True)
class Field:
    name: str
    type: pa.DataType
    default: bool  # returned by the API when `fields` is empty


@dataclass(frozen=True)
class DatasetSpec:
    name: str  # dataset name: lake directory and view name
    api: str  # the API that downloads it in bulk (e.g. income_vip for income)
    fields: tuple[Field, ...]
    key: tuple[str, ...]
    date_column: str | None  # drives the year partition; None for undated snapshots
    strategy: Strategy
    row_cap: int  # rows per call of `api`: replies this long are paged
    apis: tuple[str, ...] = ()  # every API whose replies have this dataset's fields
    snapshot_calls: tuple[dict[str, str], ...] = ({},)  # params of each call of a snapshot
    available_after: time | None = None  # Beijing time a trading day's data is published
    latest_key: tuple[str, ...] | None = None  # versioned datasets: one latest row per this key
    version_order: tuple[str, ...] = ()  # versioned datasets: columns ordering versions, newest last
    # How the strategy spells its calls (see neo/strategies):
    request_param: str | None = (
        None  # PERIOD: the period param (default "period"); CODE_WINDOWS: the code param
    )
    codes_setting: str | None = None  # CODE_WINDOWS: the setting listing the codes (e.g. "indices")
    window: Literal["year", "month"] = "year"  # CODE_WINDOWS: one call per code and this window
    every_open_day: bool = False  # CODE_WINDOWS: a row per code on every open day, so a missing day is a gap
    partitioned: bool = True  # False: one directory however many years (small datasets pulled per stock)
    null_twin: str | None = None  # a reply may hold a row twice, once with this column null: keep the other
    # Minute bars (MINUTE_BARS): the API's fixed freq param; a dataset per frequency. Such datasets
    # are opt-in: downloaded only for the codes their codes_setting lists.
    freq: str | None = None
    # A reply that reaches the row cap is asked again as two halves of its date range, never paged
    # with offset (MINUTES.md: offset is unverified for the minute APIs).
    split_at_cap: bool = False
    compact_grain: Literal["month", "day"] = "month"  # compacted files sort by this, then key
    compact_codec: str | None = None  # compacted files' compression; None: compaction's default (LZ4)
    bytes_per_row: float | None = None  # on disk once compacted, measured: `neo download --dry-run`
    description: str = ""

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(f.name, f.type) for f in self.fields])

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def required(self) -> str | None:
        """The one column a row cannot be stored without: the date that places it in its year
        partition. Snapshots and unpartitioned datasets have none. Every other column, key
        columns included, may be null: a null is a key value."""
        partitioned = self.partitioned and self.strategy is not Strategy.SNAPSHOT
        return self.date_column if partitioned else None

    def drop_null_twins(self, table: pa.Table) -> pa.Table:
        """Without the null_twin rows whose key, that column aside, has another row (NOTES.md:
        namechange repeats a period with end_date null)."""
        col = self.null_twin
        if col is None or table.num_rows == 0 or table.column(col).null_count == 0:
            return table
        rest = [k for k in self.key if k != col]
        idx = pa.array(range(table.num_rows), pa.int64())
        keyed = (
            table.select(rest).append_column("_i", idx).append_column("_null", pc.is_null(table.column(col)))
        )
        counts = keyed.group_by(rest).aggregate([("_i", "count")])
        joined = keyed.join(counts, rest, join_type="left outer")
        drop = pc.and_(joined.column("_null"), pc.greater(joined.column("_i_count"), 1))
        dropped = pc.filter(joined.column("_i"), drop)
        if len(dropped) == 0:
            return table
        keep = pc.invert(pc.is_in(idx, value_set=dropped.combine_chunks()))
        return table.filter(keep)

    def conform(self, table: pa.Table) -> pa.Table:
        """Cast to exactly the declared schema: missing columns become typed nulls, extra ones go."""
        if table.schema.equals(self.schema, check_metadata=False):
            return table
        n = table.num_rows
        cols = []
        for f in self.fields:
            if f.name in table.column_names:
                cols.append(cast_array(table.column(f.name), f.type, f"{self.name}.{f.name}"))
            else:
                cols.append(pa.nulls(n, f.type))
        return pa.Table.from_arrays(cols, schema=self.schema)


def _to_date(arr: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    if pa.types.is_integer(arr.type):
        arr = pc.cast(arr, pa.string())
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        arr = pc.utf8_trim_whitespace(arr)
        arr = pc.if_else(pc.equal(arr, ""), pa.scalar(None, arr.type), arr)
        arr = pc.strptime(arr, format="%Y%m%d", unit="s")
    return pc.cast(arr, pa.date32())


def _parsed(target: pa.DataType) -> bool:
    """Types whose values arrive as text to parse (dates, minute bars' times), never as such."""
    return target == pa.date32() or pa.types.is_timestamp(target)


def _cast(arr: pa.ChunkedArray | pa.Array, target: pa.DataType) -> pa.ChunkedArray | pa.Array:
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), target)
    if target == pa.date32():
        return _to_date(arr)
    if pa.types.is_string(arr.type) and not pa.types.is_string(target):
        trimmed = pc.utf8_trim_whitespace(arr)
        arr = pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)
    return pc.cast(arr, target)


_CAST_ERRORS = (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError)


def cast_array(
    arr: pa.ChunkedArray | pa.Array, target: pa.DataType, what: str = "column"
) -> pa.ChunkedArray | pa.Array:
    """Cast one column to its declared type, accepting what Tushare replies really contain.

    Numbers may arrive as text, dates as 'YYYYMMDD' text or integers, flags as integers or text,
    and a column that is null in a whole batch arrives as Arrow type null. A value that fits none
    of these is a SchemaError naming the column and a sample value.
    """
    if arr.type == target:
        return arr
    try:
        return _cast(arr, target)
    except _CAST_ERRORS as exc:
        raise SchemaError(
            f"{what}: cannot cast {arr.type} to {target}: {_bad_values(arr, target, exc)}"
        ) from None


def _bad_values(arr: pa.ChunkedArray | pa.Array, target: pa.DataType, exc: Exception) -> str:
    """How many values do not cast, and the first of them. Only on the error path: it casts each
    distinct value alone."""
    distinct = pc.unique(arr)
    bad = []
    for i in range(len(distinct)):
        value = distinct.slice(i, 1)
        try:
            _cast(value, target)
        except _CAST_ERRORS:
            bad.append(value[0].as_py())
    if not bad:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    rows = pc.sum(pc.is_in(arr, value_set=pa.array(bad, distinct.type))).as_py()
    return f"{rows} of {len(arr)} values, e.g. {bad[0]!r}"


def rows_to_table(
    fields: list[str], items: list[list[Any]], spec: DatasetSpec | None, *, strict: bool = True
) -> pa.Table:
    """Turn a Tushare reply's `fields` + `items` into an Arrow table, typed by the spec when known.

    With strict=False a column that cannot be typed keeps its values as they came (as text where
    they mix kinds), so that the pipeline carries the reply to the stage that keeps it in rejected/.
    """
    columns: list[Any] = list(zip(*items, strict=True)) if items else [() for _ in fields]
    types = {f.name: f.type for f in spec.fields} if spec else {}
    arrays = []
    for name, values in zip(fields, columns, strict=True):
        target = types.get(name)
        arrays.append(_build_array(values, target, f"{spec.name if spec else 'reply'}.{name}", strict))
    return pa.Table.from_arrays(arrays, names=list(fields))


def _build_array(values: Sequence[Any], target: pa.DataType | None, what: str, strict: bool) -> pa.Array:
    # Integers often arrive as floats (vol 1200.0): typing those directly fails only after a scan,
    # so they are inferred and cast below.
    if target is not None and not _parsed(target) and not pa.types.is_integer(target):
        try:
            return pa.array(values, type=target)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass  # mixed or textual values: infer, then cast below
    try:
        arr = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        arr = pa.array([None if v is None else str(v) for v in values], type=pa.string())
    if target is None:
        return arr
    try:
        return cast_array(arr, target, what)
    except SchemaError:
        if strict:
            raise
        return arr


# --- building specs from the API field lists shipped in fields.json -------------------------------

ARROW_TYPES = {"float": pa.float64(), "str": pa.string(), "int": pa.int64()}


@cache
def api_schemas() -> dict[str, Any]:
    """The field lists of every known API (a compact copy of shared/tushare/schemas.json)."""
    text = resources.files("neo.datasets").joinpath("fields.json").read_text(encoding="utf-8")
    return json.loads(text)


# Formats of text fields that are typed as dates and times: Tushare's minute bars label each bar
# with its end in Beijing wall time, without a zone, so a naive timestamp keeps it as labelled.
FORMAT_TYPES = {"YYYYMMDD": pa.date32(), "YYYY-MM-DD HH:MM:SS": pa.timestamp("us")}


def fields_of(api: str) -> tuple[Field, ...]:
    out = []
    for f in api_schemas()[api]["fields"]:
        typ = FORMAT_TYPES.get(f.get("format", "")) or ARROW_TYPES[f["type"]]
        out.append(Field(f["name"], typ, f["default"]))
    return tuple(out)
