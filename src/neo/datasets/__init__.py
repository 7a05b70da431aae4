"""The datasets neo knows. Adding a dataset means adding one spec to DATASETS below.

Types follow the API field lists (shared/tushare/schemas.json): YYYYMMDD dates become DATE, `float`
becomes DOUBLE (prices, and also vol/amount, which Tushare reports in lots and thousands of CNY and
may be fractional), `str` stays VARCHAR; flags keep their declared text type (is_open '0'/'1',
update_flag '0'/'1', report_type '1'..'12') even where the server sends integers.

Row caps: documented caps where NOTES.md has them; where the cap is undocumented we assume a
conservative one (marked below). A page shorter than the real cap ends paging, so an assumed cap must
not exceed the real one; override it with the `row_caps` setting if Tushare documents another.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import time
from typing import TYPE_CHECKING

from neo.core.config import MINUTE_FREQS
from neo.core.errors import UsageError
from neo.datasets.spec import DatasetSpec, Field, Strategy, api_schemas, fields_of

if TYPE_CHECKING:
    from neo.core.config import Settings

__all__ = [
    "DATASETS",
    "FIRST_BAR_END",
    "LAST_BAR_END",
    "MINUTE_BARS",
    "DatasetSpec",
    "Field",
    "Strategy",
    "get",
    "opted_out",
    "row_cap",
    "spec_for_api",
]

STATEMENT_VERSION_ORDER = ("update_flag", "f_ann_date", "ann_date")


def _cap(api: str, assumed: int) -> int:
    documented = api_schemas()[api].get("max_rows")
    return int(documented) if documented else assumed


# NOTES.md, Beijing time: daily 15-16h, daily_basic 15-17h, adj_factor 09:15-09:20 pre-market.
AVAILABLE_AFTER = {
    "daily": time(16, 0),
    "daily_basic": time(17, 0),
    "adj_factor": time(9, 30),
    "weekly": time(17, 0),
    "monthly": time(17, 0),
    "index_daily": time(17, 0),
    "stk_limit": time(9, 0),  # the day's limits, published about 08:40 before the open
    "suspend_d": time(9, 0),
    "moneyflow": time(19, 0),  # 18-19h
    # Minute bars: a day's bars are out between 17h and 21h (MINUTES.md: EXT says 19-20h, RN 17-21h).
    "stk_mins": time(21, 0),
    "idx_mins": time(21, 0),
}

# Bars a trading day has at each minute frequency (MINUTES.md): the 09:30 opening-auction bar, then
# 120 minutes each morning and afternoon grouped by the freq. 5min's 49 bars are known (a
# third-party validator); 15/30/60min follow the same rule, unverified (60min: 4 or 5, the
# simulator's choice of 5 taken). Windows are sized by these and a day with fewer is a gap.
MINUTE_BARS = {"1min": 241, "5min": 49, "15min": 17, "30min": 9, "60min": 5}  # bars in a day
assert tuple(MINUTE_BARS) == MINUTE_FREQS
# Where a day's bars end at every freq: the opening auction's 09:30 bar first, the 15:00 close last.
FIRST_BAR_END, LAST_BAR_END = time(9, 30), time(15, 0)


def _market(name: str, strategy: Strategy, description: str) -> DatasetSpec:
    return DatasetSpec(
        name=name,
        api=name,
        apis=(name,),
        fields=fields_of(name),
        key=("ts_code", "trade_date"),
        date_column="trade_date",
        strategy=strategy,
        row_cap=_cap(name, 6000),  # adj_factor: undocumented, third-party code assumes 5000-6000
        available_after=AVAILABLE_AFTER[name],
        description=description,
    )


def _statement(name: str, description: str, assumed_cap: int = 5000) -> DatasetSpec:
    vip = f"{name}_vip"
    key = tuple(api_schemas()[name]["primary_key"])
    latest = ("ts_code", "end_date", "report_type") if "report_type" in key else ("ts_code", "end_date")
    return DatasetSpec(
        name=name,
        api=vip,
        apis=(vip, name),
        fields=fields_of(name),
        key=key,
        date_column="end_date",
        strategy=Strategy.PERIOD,
        row_cap=_cap(vip, assumed_cap),  # undocumented for *_vip: assumed, see module docstring
        latest_key=latest,
        version_order=tuple(c for c in STATEMENT_VERSION_ORDER if c in key),
        description=description,
    )


def _by_day(name: str, description: str, key: tuple[str, ...] = ("ts_code", "trade_date")) -> DatasetSpec:
    """A whole-market call per open day."""
    return DatasetSpec(
        name=name,
        api=name,
        apis=(name,),
        fields=fields_of(name),
        key=key,
        date_column="trade_date",
        strategy=Strategy.TRADE_DATE,
        row_cap=_cap(name, 5000),
        available_after=AVAILABLE_AFTER[name],
        description=description,
    )


def _snapshot(name: str, calls: tuple[dict[str, str], ...], description: str, **kw: object) -> DatasetSpec:
    return DatasetSpec(
        name=name,
        api=name,
        apis=(name,),
        fields=fields_of(name),
        key=kw.pop("key", None) or tuple(api_schemas()[name]["primary_key"]),  # type: ignore[arg-type]
        date_column=None,
        strategy=Strategy.SNAPSHOT,
        row_cap=_cap(name, 2000),  # undocumented (index_classify: a few hundred rows): assumed
        snapshot_calls=calls,
        description=description,
        **kw,  # type: ignore[arg-type]
    )


def _announcement(name: str, description: str, assumed_cap: int) -> DatasetSpec:
    """Forecasts and express reports: whole market per report period through the *_vip API, every
    version kept like the statements (a revision is a new row with a later ann_date)."""
    vip = f"{name}_vip"
    return DatasetSpec(
        name=name,
        api=vip,
        apis=(vip, name),
        fields=fields_of(name),
        key=tuple(api_schemas()[name]["primary_key"]),
        date_column="end_date",
        strategy=Strategy.PERIOD,
        row_cap=_cap(vip, assumed_cap),  # undocumented for *_vip: the base API's cap
        latest_key=("ts_code", "end_date"),
        version_order=("ann_date", "update_flag"),
        description=description,
    )


def _minutes(api: str, freq: str, codes_setting: str, what: str) -> DatasetSpec:
    """One frequency of a minute-bar API as a dataset of its own (`stk_mins` at 1min,
    `stk_mins_5min`...): every query reads one grid, and each file holds one shape of day. Opt-in:
    only the codes `codes_setting` lists are downloaded (a bare `neo download` fetches none)."""
    name = api if freq == "1min" else f"{api}_{freq}"
    return DatasetSpec(
        name=name,
        api=api,
        apis=(api,),
        fields=fields_of(api),
        key=("ts_code", "trade_time"),
        date_column="trade_time",
        strategy=Strategy.MINUTE_BARS,
        row_cap=_cap(api, 8000),
        available_after=AVAILABLE_AFTER[api],
        codes_setting=codes_setting,
        freq=freq,
        split_at_cap=True,
        # A day of the whole market, then each stock's bars: one stock's weeks read a row group a
        # day, one minute or day of the market reads that day's groups (docs/BENCHMARKS.md).
        compact_grain="day",
        # zstd: 20% smaller than LZ4 (14 against 18 bytes a bar, 16.5 to 21 in a native DuckDB table).
        compact_codec="zstd",
        bytes_per_row=MINUTE_BYTES_PER_ROW[freq],
        description=f"{what} at {freq} (trade_time: bar end, Beijing time), codes in `{codes_setting}`.",
    )


# Bytes on disk per bar once compacted, measured by `make bench-mins` (1min) and from a compacted
# lake of the simulator at each freq: `neo download --dry-run` estimates a plan's bytes with them.
MINUTE_BYTES_PER_ROW = {"1min": 11.0, "5min": 12.0, "15min": 12.0, "30min": 12.0, "60min": 12.0}

_SPECS = [
    DatasetSpec(
        name="stock_basic",
        api="stock_basic",
        apis=("stock_basic",),
        fields=fields_of("stock_basic"),
        key=("ts_code",),
        date_column=None,
        strategy=Strategy.SNAPSHOT,
        row_cap=_cap("stock_basic", 6000),
        # The API defaults to listed stocks only; asking every status avoids survivorship bias.
        snapshot_calls=tuple({"list_status": s} for s in ("L", "D", "P", "G")),
        description="Every stock ever listed (listed, delisted, paused, approved-not-trading).",
    ),
    DatasetSpec(
        name="trade_cal",
        api="trade_cal",
        apis=("trade_cal",),
        fields=fields_of("trade_cal"),
        key=("exchange", "cal_date"),
        date_column="cal_date",
        strategy=Strategy.SNAPSHOT,
        row_cap=_cap("trade_cal", 4000),  # undocumented: assumed
        snapshot_calls=tuple({"exchange": e} for e in ("SSE", "SZSE", "BSE")),
        description="Exchange trading calendars (SSE, SZSE, BSE).",
    ),
    _market("daily", Strategy.TRADE_DATE, "Unadjusted daily bars; no row on suspended days."),
    _market("daily_basic", Strategy.TRADE_DATE, "Daily valuation metrics (PE, PB, market value...)."),
    _market("adj_factor", Strategy.TRADE_DATE, "Cumulative adjustment factors, suspended days included."),
    _market("weekly", Strategy.WEEK_END, "Weekly bars dated on the week's last trading day."),
    _market("monthly", Strategy.MONTH_END, "Monthly bars dated on the month's last trading day."),
    _statement("income", "Income statements, every version (report types, restatements)."),
    _statement("balancesheet", "Balance sheets, every version."),
    _statement("cashflow", "Cash-flow statements, every version."),
    _statement("fina_indicator", "Financial indicators, every version."),
    # -- research data: benchmarks, universes, industries, tradability, corporate actions ----------
    _snapshot(
        "index_basic",
        tuple({"market": m} for m in ("SSE", "SZSE", "CSI", "CICC", "SW", "MSCI", "OTH")),
        "Index list: code, name, publisher, base date and level (every market).",
    ),
    DatasetSpec(
        name="index_daily",
        api="index_daily",
        apis=("index_daily",),
        fields=fields_of("index_daily"),
        key=("ts_code", "trade_date"),
        date_column="trade_date",
        strategy=Strategy.CODE_WINDOWS,
        row_cap=_cap("index_daily", 8000),
        request_param="ts_code",
        codes_setting="indices",
        window="year",
        every_open_day=True,
        available_after=AVAILABLE_AFTER["index_daily"],
        description="Daily index levels of the indices in the `indices` setting, per index and year.",
    ),
    DatasetSpec(
        name="index_weight",
        api="index_weight",
        apis=("index_weight",),
        fields=fields_of("index_weight"),
        key=("index_code", "con_code", "trade_date"),
        date_column="trade_date",
        strategy=Strategy.CODE_WINDOWS,
        row_cap=_cap("index_weight", 6000),  # undocumented: about 6000 seen (NOTES.md)
        request_param="index_code",
        codes_setting="indices",
        window="month",
        description="Index constituents and weights (%), snapshots once or twice a month, per index.",
    ),
    _snapshot(
        "index_classify",
        ({"src": "SW2014"}, {"src": "SW2021"}),
        "Shenwan industry classification, levels L1-L3, 2014 and 2021 versions.",
    ),
    _snapshot(
        "index_member_all",
        ({"is_new": "Y"}, {"is_new": "N"}),
        "Each stock's Shenwan (SW2021) industry at every level, with in/out dates (past ones too).",
    ),
    _by_day(
        "suspend_d",
        "Suspensions: an S row per suspended day, an R row on resumption.",
        key=("ts_code", "trade_date", "suspend_type"),
    ),
    _by_day("stk_limit", "Each day's up and down limit prices."),
    _by_day("moneyflow", "Money flow by order size (small, medium, large, extra large), in 万元."),
    _snapshot(
        "namechange",
        ({},),
        "Name history with ST / *ST periods (start_date to end_date).",
        key=("ts_code", "start_date", "name"),
        null_twin="end_date",
    ),
    DatasetSpec(
        name="dividend",
        api="dividend",
        apis=("dividend",),
        fields=fields_of("dividend"),
        key=tuple(api_schemas()["dividend"]["primary_key"]),
        date_column="end_date",
        strategy=Strategy.STOCK_HISTORY,
        row_cap=_cap("dividend", 2000),
        partitioned=False,
        description="Cash and stock dividends: every stage (预案, 股东大会通过, 实施), record and ex dates.",
    ),
    DatasetSpec(
        name="disclosure_date",
        api="disclosure_date",
        apis=("disclosure_date",),
        fields=fields_of("disclosure_date"),
        key=("ts_code", "end_date"),
        date_column="end_date",
        strategy=Strategy.PERIOD,
        row_cap=_cap("disclosure_date", 3000),
        request_param="end_date",  # the report period; unlike forecast, where end_date bounds ann_date
        description="When each report is scheduled (pre_date) and came out (actual_date).",
    ),
    _announcement("forecast", "Earnings forecasts (业绩预告), every version.", 3500),
    _announcement("express", "Preliminary earnings reports (业绩快报), every version.", 2000),
    # -- minute bars (opt-in: a subscription of their own, and billions of rows) -----------------
    *(_minutes("stk_mins", f, "minute_stocks", "Minute bars of stocks and ETFs") for f in MINUTE_BARS),
    *(_minutes("idx_mins", f, "minute_indices", "Minute bars of indices") for f in MINUTE_BARS),
]

DATASETS: dict[str, DatasetSpec] = {s.name: s for s in _SPECS}
_BY_API: dict[str, DatasetSpec] = {}
for _spec in _SPECS:  # the first dataset of an API is its spec (stk_mins: the 1min one)
    for _api in _spec.apis:
        _BY_API.setdefault(_api, _spec)
# A minute API's dataset per freq (its freq param picks one).
_BY_FREQ: dict[tuple[str, str], DatasetSpec] = {(s.api, s.freq): s for s in _SPECS if s.freq is not None}


def get(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise UsageError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}") from None


FALLBACK_ROW_CAP = 5000  # an API neo has no spec for and Tushare documents no cap for


def row_cap(api: str, overrides: Mapping[str, int] | None = None) -> int:
    """Rows per call of `api`: an override (the `row_caps` setting, a simulator option), else the
    documented cap, else the assumption of the dataset that downloads through `api`. The client
    pages by it and the simulator truncates by it, so both read it here."""
    if overrides and api in overrides:
        return overrides[api]
    documented = api_schemas().get(api, {}).get("max_rows")
    if documented:
        return int(documented)
    spec = _BY_API.get(api)
    return spec.row_cap if spec is not None and spec.api == api else FALLBACK_ROW_CAP


def spec_for_api(api: str, freq: str | None = None) -> DatasetSpec | None:
    """The dataset whose fields an API returns (e.g. income_vip -> income), if neo knows it. A
    minute API has a dataset per freq: `freq` picks one (stk_mins at 5min -> stk_mins_5min), None
    the 1min one; other APIs take no freq and ignore it."""
    spec = _BY_API.get(api)
    if spec is not None and spec.freq is not None and freq is not None:
        return _BY_FREQ.get((api, freq))
    return spec


def opted_out(spec: DatasetSpec, settings: Settings) -> bool:
    """An opt-in dataset (minute bars) the settings do not ask for: no code in its codes setting,
    or its freq not in `minute_freqs`. A bare `neo download` leaves it out, and `neo status`,
    `neo verify` and `neo report` do not list it while it holds nothing."""
    if spec.freq is None or spec.codes_setting is None:
        return False
    return not getattr(settings, spec.codes_setting) or spec.freq not in settings.minute_freqs
