"""How each Tushare API reads its params: the one table every server of the protocol consults.

The simulator (`neo sim serve`) and the lake server (`neo serve`) answer the same APIs the same way
because both read their filtering rules here; the simulator's generator registry only knows how to
build each API's frame. An API absent from this table is answered with Tushare's unknown-API error.

Rules, per API (see NOTES.md and schemas.json for the sources):

- ``range_column``: the column that ``start_date``/``end_date`` bound, and that a param of the same
  name selects exactly (``trade_date=...``). Rows are ordered newest first on it.
- ``order_column``: with no range column, the date column rows are ordered by; ``start_date`` and
  ``end_date`` are then exact filters on their own columns (dividend's end_date is the payout's
  period), like every other param naming a column.
- ``defaults``: what the real service assumes when a param is absent (stock_basic list_status L).
- ``required``: groups of params of which at least one must be given, else error 40101.
- ``aliases``: a param filtering a column of another name (forecast's ``period`` is its end_date,
  while its ``end_date`` param bounds ann_date).
- ``per_period``: rows belong to report periods (statements): ``period`` selects periods by their
  end_date; without it every period is served, newest period first.
- ``choices``: params that take one of a fixed set of values (the minute APIs' ``freq``); any other
  value is an error reply rather than an empty answer, so a client's typo cannot pass for "no data".
- ``moments``: ``start_date``/``end_date`` are moments ('YYYY-MM-DD HH:MM:SS', the minute APIs)
  compared with the range column as text (`neo.protocol.minutes`). Everywhere else they are days,
  'YYYYMMDD', and an ISO date or datetime ('2024-01-02', '2024-01-02 09:30:00') is read as its day:
  ``pro_bar`` asks adj_factor for minute bars' days with the minute bounds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["MINUTE_FREQS", "RULES", "ApiRule", "base_api", "rule_for"]

# MINUTES.md: lower case only (the rt_* APIs spell them 1MIN..60MIN; the SDK lower-cases for us).
MINUTE_FREQS = ("1min", "5min", "15min", "30min", "60min")


@dataclasses.dataclass(frozen=True)
class ApiRule:
    api: str
    range_column: str | None = None
    order_column: str | None = None
    defaults: Mapping[str, str] = dataclasses.field(default_factory=dict)
    required: tuple[tuple[str, ...], ...] = ()
    aliases: Mapping[str, str] = dataclasses.field(default_factory=dict)
    per_period: bool = False
    choices: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    moments: bool = False

    @property
    def date_column(self) -> str | None:
        """The column rows are indexed and ordered by (newest first)."""
        return self.range_column or self.order_column

    @property
    def ranged(self) -> bool:
        return self.range_column is not None


def _statement(api: str) -> ApiRule:
    # NOTES.md: statements filter start_date/end_date on the announcement date, fina_indicator on
    # the report period; report_type defaults to 1 (fina_indicator has none).
    if api == "fina_indicator":
        return ApiRule(api, range_column="end_date", per_period=True)
    return ApiRule(api, range_column="ann_date", defaults={"report_type": "1"}, per_period=True)


_RULES: tuple[ApiRule, ...] = (
    # universe
    ApiRule("stock_basic", defaults={"list_status": "L"}),
    ApiRule("trade_cal", range_column="cal_date", defaults={"exchange": "SSE"}),
    # bars
    ApiRule("daily", range_column="trade_date"),
    ApiRule("adj_factor", range_column="trade_date"),
    ApiRule("daily_basic", range_column="trade_date"),
    ApiRule("weekly", range_column="trade_date"),
    ApiRule("monthly", range_column="trade_date"),
    # statements
    *(_statement(api) for api in ("income", "balancesheet", "cashflow", "fina_indicator")),
    # tradability
    ApiRule("namechange", range_column="ann_date"),
    ApiRule("stk_limit", range_column="trade_date"),
    ApiRule("suspend_d", range_column="trade_date"),
    # NOTES: at least one of ts_code / trade_date / start_date / end_date.
    ApiRule(
        "moneyflow",
        range_column="trade_date",
        required=(("ts_code", "trade_date", "start_date", "end_date"),),
    ),
    # indices
    ApiRule("index_basic", defaults={"market": "SSE"}),  # the doc: an omitted market means SSE
    ApiRule("index_daily", range_column="trade_date", required=(("ts_code",),)),
    ApiRule("index_weight", range_column="trade_date"),
    ApiRule("index_classify", defaults={"src": "SW2021"}),  # undocumented default
    ApiRule("index_member_all", defaults={"is_new": "Y"}),  # the default drops past memberships
    # corporate actions and announcements
    ApiRule("dividend", order_column="ann_date"),
    ApiRule("disclosure_date", order_column="end_date"),
    # The base APIs need a stock or an announcement day; the _vip ones take the whole market.
    ApiRule(
        "forecast",
        range_column="ann_date",
        aliases={"period": "end_date"},
        required=(("ts_code", "ann_date"),),
    ),
    ApiRule("forecast_vip", range_column="ann_date", aliases={"period": "end_date"}),
    ApiRule("express", range_column="ann_date", aliases={"period": "end_date"}, required=(("ts_code",),)),
    ApiRule("express_vip", range_column="ann_date", aliases={"period": "end_date"}),
    # minute bars (MINUTES.md): one code and a freq required; start_date/end_date are datetimes
    # ('YYYY-MM-DD HH:MM:SS') bounding trade_time, the bar's end.
    *(
        ApiRule(
            api,
            range_column="trade_time",
            required=(("ts_code",), ("freq",)),
            choices={"freq": MINUTE_FREQS},
            moments=True,
        )
        for api in ("stk_mins", "idx_mins")
    ),
)


def _collect() -> MappingProxyType[str, ApiRule]:
    out: dict[str, ApiRule] = {}
    for rule in _RULES:
        if rule.api in out:
            raise ValueError(f"API {rule.api!r} has two rules")
        out[rule.api] = rule
    return MappingProxyType(out)


RULES: MappingProxyType[str, ApiRule] = _collect()


def base_api(api: str) -> str:
    """The API whose rule serves ``api``: a ``_vip`` variant is served as its base API unless it
    has a rule of its own."""
    return api if api in RULES else api.removesuffix("_vip")


def rule_for(api: str) -> ApiRule | None:
    """The rule serving ``api`` (``_vip`` variants included), or None when no server answers it."""
    return RULES.get(base_api(api))
