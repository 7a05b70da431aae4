"""Research views and table macros of metadata.db: point-in-time statements, tradability, membership.

Everything here is SQL over the dataset views (see catalog.py), so it lists the lake's files at each
query like they do and needs no data of its own. `views()` gives views (CREATE VIEW name AS sql),
`macros()` table macros (CREATE MACRO name(params) AS TABLE sql); both are created by `sync` in
metadata.db and by `open_lake` in memory.

Point in time (`<name>_pit`, `<name>_asof(d)`) for income, balancesheet, cashflow, fina_indicator,
forecast and express. A *report* is (ts_code, end_date, report_type) where the dataset has
report_type, (ts_code, end_date) otherwise; each row of the dataset is one *version* of a report.

- known_from: the first day the version was public: f_ann_date, else ann_date (forecast, express
  and fina_indicator have only ann_date). Never the period end. A version with neither date cannot
  be placed in time and is left out of the `_pit` view (the dataset view still has it).
- Versions of a report are ordered by known_from, then update_flag ('0' < '1', null first), then
  the remaining key columns (ann_date, f_ann_date, forecast's type), so the order is total and
  every query gives the same answer.
- known_to: the known_from of the next version in that order; null while the version is current.
  A version superseded the day it came out (known_to = known_from) is never known at any date.

Why update_flag only breaks ties. Tushare does not document update_flag. NOTES.md records what is
known: when a report is restated the restated row carries '1' and the superseded original '0', and
the same-day duplicates of the docs' samples differ only in it. So '1' marks the newer of two
versions. But it is assigned after the fact: the original carries '0' only once the restatement
exists, and before that day it was the only, current version. The flag therefore says nothing about
*when* a version was known; the dates do. The rule: later known_from wins; on the same known_from,
'1' replaces '0' (that '0' row is then never known). The `_latest` views order by update_flag
first; the current `_pit` version (known_to null) differs from `_latest` only if a '0' row was
announced after a '1' row of the same report, which NOTES.md does not describe.

"Known at d" means public by the end of day d (known_from <= d < known_to): announcements come out
after the close or before the open, so a strategy trading at d's open or close should ask for the
previous open day.

Tradability (`tradability`): one row per stock and SSE open day of its listed life (list_date <=
day < delist_date) on which the lake's `daily` has any bar (so within the range daily covers, and a
day the lake lacks altogether is not mistaken for a market-wide suspension). Flags are never null.

Membership: `index_members_asof(code, d)` is the last index_weight snapshot of the index on or
before d. `sw_industry_asof(d)` reads index_member_all with out_date as possibly the last day in
(in_date <= d and (out_date is null or d <= out_date)) and keeps the latest in_date per stock:
whether out_date is the last day in or the first day out is unverified (NOTES.md), and this rule
gives each stock exactly one industry on every day of a switch under either reading (the new row
wins on a shared day); only a stock leaving the classification altogether may show one day late.
"""

from __future__ import annotations

from neo.datasets import DATASETS
from neo.lake import minutes
from neo.lake.engine import q

# Datasets with point-in-time views: name -> the columns naming a report.
PIT_REPORTS: dict[str, tuple[str, ...]] = {
    "income": ("ts_code", "end_date", "report_type"),
    "balancesheet": ("ts_code", "end_date", "report_type"),
    "cashflow": ("ts_code", "end_date", "report_type"),
    "fina_indicator": ("ts_code", "end_date"),
    "forecast": ("ts_code", "end_date"),
    "express": ("ts_code", "end_date"),
}

# fundamentals_asof's columns per statement (documented in docs/guide.md, "Research views").
FUNDAMENTALS: dict[str, tuple[str, ...]] = {
    "income": (
        "total_revenue",
        "revenue",
        "operate_profit",
        "total_profit",
        "n_income",
        "n_income_attr_p",
        "basic_eps",
        "diluted_eps",
    ),
    "balancesheet": (
        "total_assets",
        "total_liab",
        "total_hldr_eqy_exc_min_int",
        "total_cur_assets",
        "total_cur_liab",
        "money_cap",
        "total_share",
    ),
    "cashflow": ("n_cashflow_act", "n_cashflow_inv_act", "n_cash_flows_fnc_act", "free_cashflow"),
    "fina_indicator": (
        "roe",
        "roe_dt",
        "roa",
        "grossprofit_margin",
        "netprofit_margin",
        "debt_to_assets",
        "current_ratio",
        "bps",
        "ocfps",
    ),
}

ST_PREFIXES = ("ST", "*ST", "SST", "S*ST")
# Prices are quoted in 0.01 (0.001 for funds): closer than half the finest tick is the same price.
PRICE_TOLERANCE = 0.0005


def known_from(name: str) -> str:
    """The SQL of the first day a version of `name` was public."""
    columns = {f.name for f in DATASETS[name].fields}
    return "coalesce(f_ann_date, ann_date)" if "f_ann_date" in columns else "ann_date"


def version_order(name: str) -> str:
    """ORDER BY of a report's versions, oldest first; total over the dataset's key (module doc)."""
    report = PIT_REPORTS[name]
    rest = [c for c in DATASETS[name].key if c not in report and c != "update_flag"]
    order = ["known_from", "update_flag ASC NULLS FIRST", *(f"{q(c)} ASC NULLS FIRST" for c in rest)]
    return ", ".join(order)


def pit_view(name: str) -> str:
    """Every version of `name` with its knowledge interval [known_from, known_to)."""
    part = ", ".join(q(c) for c in PIT_REPORTS[name])
    return (
        f"SELECT *, lead(known_from) OVER (PARTITION BY {part} ORDER BY {version_order(name)}) AS known_to "
        f"FROM (SELECT *, {known_from(name)} AS known_from FROM {q(name)}) WHERE known_from IS NOT NULL"
    )


def asof_macro(name: str) -> str:
    """Each report's version known at d."""
    return f"SELECT * FROM {q(name + '_pit')} WHERE known_from <= d AND (known_to IS NULL OR d < known_to)"


def fundamentals_macro() -> str:
    """Each stock's latest consolidated report known at d, with key fields of the four statements
    as known at d (null where that statement's version for the period is not out yet)."""
    income = ", ".join(f"i.{q(c)}" for c in FUNDAMENTALS["income"])
    rest = ", ".join(
        f"{alias}.{q(c)}"
        for alias, name in (("b", "balancesheet"), ("c", "cashflow"), ("f", "fina_indicator"))
        for c in FUNDAMENTALS[name]
    )
    return (
        f"SELECT i.ts_code, i.end_date, i.known_from, {income}, {rest} "
        "FROM (SELECT * FROM income_asof(d) WHERE report_type = '1' "
        "QUALIFY row_number() OVER (PARTITION BY ts_code ORDER BY end_date DESC) = 1) i "
        "LEFT JOIN (SELECT * FROM balancesheet_asof(d) WHERE report_type = '1') b "
        "ON b.ts_code = i.ts_code AND b.end_date = i.end_date "
        "LEFT JOIN (SELECT * FROM cashflow_asof(d) WHERE report_type = '1') c "
        "ON c.ts_code = i.ts_code AND c.end_date = i.end_date "
        "LEFT JOIN fina_indicator_asof(d) f ON f.ts_code = i.ts_code AND f.end_date = i.end_date"
    )


def _near(a: str, b: str) -> str:
    return f"coalesce(abs({a} - {b}) < {PRICE_TOLERANCE}, false)"


def tradability_view() -> str:
    """One row per stock and open day of its listed life within daily's days (module doc)."""
    st = " OR ".join(f"starts_with(n.name, '{p}')" for p in ST_PREFIXES)
    at_up = _near("d.close", "l.up_limit")
    at_down = _near("d.close", "l.down_limit")
    one_price = (
        f"coalesce(d.high - d.low < {PRICE_TOLERANCE}, false) "
        f"AND ({_near('d.high', 'l.up_limit')} OR {_near('d.low', 'l.down_limit')})"
    )
    # The calendar numbers open days once, so days_listed is a subtraction, not a count per row.
    # Each per-day input is joined on (ts_code, trade_date): a filter on trade_date reaches every
    # scan through the join conditions (checked with EXPLAIN in the tests). ST spells too, as the
    # days they cover: DuckDB 2 stops a filter at a correlated subquery (an EXISTS over the spells
    # read all of daily, stk_limit and suspend_d for one day), and ST spells are few.
    return (
        "WITH cal AS (SELECT cal_date AS trade_date, row_number() OVER (ORDER BY cal_date) AS n "
        "FROM trade_cal WHERE exchange = 'SSE' AND is_open = '1'), "
        # The first open day on or after list_date, found by an ASOF join (not a range join).
        "life AS (SELECT s.ts_code, s.list_date, s.delist_date, f.n AS first_n "
        "FROM stock_basic s ASOF LEFT JOIN cal f ON f.trade_date >= s.list_date "
        "WHERE s.list_date IS NOT NULL), "
        "traded AS (SELECT DISTINCT trade_date FROM daily), "
        "halted AS (SELECT DISTINCT ts_code, trade_date FROM suspend_d "
        "WHERE suspend_type = 'S' AND suspend_timing IS NULL), "
        f"st AS (SELECT ts_code, start_date, end_date FROM namechange n WHERE {st}), "
        "st_days AS (SELECT DISTINCT st.ts_code, c.trade_date FROM st JOIN cal c "
        "ON c.trade_date >= st.start_date AND (st.end_date IS NULL OR c.trade_date <= st.end_date)) "
        "SELECT s.ts_code, c.trade_date, "
        "(d.ts_code IS NULL OR h.ts_code IS NOT NULL) AS suspended, "
        f"{at_up} AS up_limit_close, {at_down} AS down_limit_close, "
        f"({one_price}) AS one_price_limit, "
        "x.ts_code IS NOT NULL AS is_st, "
        "c.n - s.first_n AS days_listed "
        "FROM life s "
        "JOIN cal c ON c.trade_date >= s.list_date "
        "AND (s.delist_date IS NULL OR c.trade_date < s.delist_date) "
        "JOIN traded t ON t.trade_date = c.trade_date "
        "LEFT JOIN daily d ON d.ts_code = s.ts_code AND d.trade_date = c.trade_date "
        "LEFT JOIN stk_limit l ON l.ts_code = s.ts_code AND l.trade_date = c.trade_date "
        "LEFT JOIN halted h ON h.ts_code = s.ts_code AND h.trade_date = c.trade_date "
        "LEFT JOIN st_days x ON x.ts_code = s.ts_code AND x.trade_date = c.trade_date"
    )


def index_members_macro() -> str:
    return (
        "SELECT index_code, con_code, trade_date, weight FROM index_weight "
        "WHERE index_code = code AND trade_date = "
        "(SELECT max(trade_date) FROM index_weight WHERE index_code = code AND trade_date <= d)"
    )


def sw_industry_macro() -> str:
    return (
        "SELECT ts_code, l1_code, l1_name, l2_code, l2_name, l3_code, l3_name, in_date, out_date "
        "FROM index_member_all WHERE in_date <= d AND (out_date IS NULL OR d <= out_date) "
        "QUALIFY row_number() OVER (PARTITION BY ts_code ORDER BY in_date DESC, l3_code) = 1"
    )


def views() -> dict[str, str]:
    """The research views by name, in creation order (after the dataset views)."""
    out = {f"{name}_pit": pit_view(name) for name in PIT_REPORTS}
    out["tradability"] = tradability_view()
    out |= minutes.views()  # adjusted minute bars
    return out


def macros() -> dict[str, tuple[tuple[str, ...], str]]:
    """The table macros by name: (parameters, body), in creation order (after every view)."""
    out: dict[str, tuple[tuple[str, ...], str]] = {f"{n}_asof": (("d",), asof_macro(n)) for n in PIT_REPORTS}
    out["fundamentals_asof"] = (("d",), fundamentals_macro())
    out["index_members_asof"] = (("code", "d"), index_members_macro())
    out["sw_industry_asof"] = (("d",), sw_industry_macro())
    out |= minutes.macros()  # minute bars: N-minute bars, a day's VWAP
    return out


def macro_statements() -> list[str]:
    """CREATE MACRO statements for the scalar macros, then `macros()`."""
    scalar = [
        f"CREATE MACRO {q(name)}({', '.join(params)}) AS {body}"
        for name, (params, body) in minutes.scalar_macros().items()
    ]
    return scalar + [
        f"CREATE MACRO {q(name)}({', '.join(params)}) AS TABLE {body}"
        for name, (params, body) in macros().items()
    ]
