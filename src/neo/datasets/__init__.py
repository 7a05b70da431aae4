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

from datetime import time

from neo.datasets.spec import DatasetSpec, Field, Strategy, api_fields, fields_of
from neo.errors import UsageError

__all__ = ["DATASETS", "DatasetSpec", "Field", "Strategy", "get", "spec_for_api"]

STATEMENT_VERSION_ORDER = ("update_flag", "f_ann_date", "ann_date")


def _cap(api: str, assumed: int) -> int:
    documented = api_fields()[api].get("max_rows")
    return int(documented) if documented else assumed


# NOTES.md, Beijing time: daily 15-16h, daily_basic 15-17h, adj_factor 09:15-09:20 pre-market.
AVAILABLE_AFTER = {
    "daily": time(16, 0),
    "daily_basic": time(17, 0),
    "adj_factor": time(9, 30),
    "weekly": time(17, 0),
    "monthly": time(17, 0),
}


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
    key = tuple(api_fields()[name]["primary_key"])
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
]

DATASETS: dict[str, DatasetSpec] = {s.name: s for s in _SPECS}
_BY_API: dict[str, DatasetSpec] = {api: s for s in _SPECS for api in s.apis}


def get(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise UsageError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}") from None


def spec_for_api(api: str) -> DatasetSpec | None:
    """The dataset whose fields an API returns (e.g. income_vip -> income), if neo knows it."""
    return _BY_API.get(api)
