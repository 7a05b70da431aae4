"""Financial statements of the simulated market, one frame per report period: ``income``,
``balancesheet``, ``cashflow`` and ``fina_indicator`` (``_vip`` variants alike); see the module
docstring of ``neo.sim.market`` for the model.

A small share of original versions (``NO_F_ANN_DATE``, drawn per statement, period and row from the
seed) has no ``f_ann_date``, as Tushare's older rows do; it is part of the statements' key, so a
client must keep such rows (their ``ann_date`` says when they were known). Restatements always
carry theirs: it is the only date saying when the restated figures came out.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

from neo.sim import calendar as cal
from neo.sim.state import Dataset, Frame, State, api_fields, dates, salt
from neo.sim.universe import annual, econ, table_rows

NO_F_ANN_DATE = 0.04


def quarter_ends(s: State) -> list[dt.date]:
    out = []
    for year in range(s.start.year, s.end.year + 1):
        for m, dd in ((3, 31), (6, 30), (9, 30), (12, 31)):
            q = dt.date(year, m, dd)
            if q < s.end:
                out.append(q)
    return out


def _snap_table(s: State) -> tuple[int, np.ndarray]:
    """(first ordinal, next-open-day ordinal for each day) from Jan 1 of start's year on."""

    def build() -> tuple[int, np.ndarray]:
        base = dt.date(s.start.year, 1, 1)
        last = s.end + dt.timedelta(days=30)
        opens = [d.toordinal() for d in cal.open_days(base, last)]
        opens.append(cal.next_open_day(last).toordinal())
        ords = np.arange(base.toordinal(), last.toordinal() + 1)
        return base.toordinal(), np.array(opens, dtype=np.int64)[np.searchsorted(opens, ords)]

    table: tuple[int, np.ndarray] = s.once("snap", build)
    return table


def _snap(s: State, ords: np.ndarray) -> np.ndarray:
    # Days past end+30 are never kept (rows need ann_date <= end), so clipping them is harmless
    # as long as the clipped value still lands after end.
    base, table = _snap_table(s)
    idx = np.clip(ords - base, 0, len(table) - 1)
    return np.where(ords - base >= len(table), ords, table[idx])


def announcements(s: State, pe: dt.date) -> dict[str, np.ndarray]:
    """Who reports period ``pe`` by ``end``, when, and which versions exist (shared by all APIs)."""
    n = s.stocks
    u = s.u
    q = (pe.month - 1) // 3 + 1
    pkey = pe.year * 10 + q
    lo, hi = {1: (20, 30), 2: (30, 60), 3: (20, 30), 4: (60, 110)}[q]
    rng = s.rng(salt("announce"), pkey)
    ann = _snap(s, pe.toordinal() + rng.integers(lo, hi + 1, size=n))
    end_ord = s.end.toordinal()
    present = (ann <= end_ord) & (u.list_ord <= ann) & (ann < u.delist_ord)
    parent = rng.random(n) < 0.3
    out = {"ann": ann, "present": present, "parent": parent}
    for rt in ("1", "6"):
        r = s.rng(salt("restate"), pkey, int(rt))
        restate = _snap(s, ann + r.integers(20, 401, size=n))
        ok = (r.random(n) < 0.1) & (restate <= end_ord) & (restate < u.delist_ord)
        out["restate" + rt] = np.where(ok, restate, -1)
    return out


def build_periods(s: State) -> list[str]:
    return [cal.ymd(pe) for pe in quarter_ends(s) if announcements(s, pe)["present"].any()]


def build_statement(st: State, api: str, pe: dt.date) -> Frame:
    u = st.u
    a = announcements(st, pe)
    stocks = np.flatnonzero(a["present"])
    # Row layout: (stock, report_type, version) where version 1 is a restatement.
    if api == "fina_indicator":
        types = [("1", stocks)]
    else:
        types = [("1", stocks), ("6", stocks[a["parent"][stocks]])]
    s_rows: list[np.ndarray] = []
    rt_rows: list[np.ndarray] = []
    ver_rows: list[np.ndarray] = []
    flag_rows: list[np.ndarray] = []
    fann_rows: list[np.ndarray] = []
    for rt, ss in types:
        rdate = a["restate" + rt][ss]
        restated = rdate >= 0
        s_rows += [ss, ss[restated]]
        rt_rows.append(np.full(len(ss) + int(restated.sum()), rt, dtype=object))
        ver_rows += [np.zeros(len(ss), dtype=np.int8), np.ones(int(restated.sum()), dtype=np.int8)]
        flag_rows += [
            np.where(restated, "0", "1").astype(object),
            np.full(int(restated.sum()), "1", dtype=object),
        ]
        fann_rows += [a["ann"][ss], rdate[restated]]
    s = np.concatenate(s_rows).astype(np.int64)
    rt_col = np.concatenate(rt_rows) if rt_rows else np.empty(0, dtype=object)
    ver = np.concatenate(ver_rows)
    flag = np.concatenate(flag_rows)
    f_ann = np.concatenate(fann_rows).astype(np.int64)
    ann = a["ann"][s]
    if api == "fina_indicator":
        ann = f_ann  # fina_indicator's key has no f_ann_date: restatements move ann_date instead
    nrow = len(s)

    values = statement_values(st, api, pe)  # name -> per-stock array (length n)
    pkey = pe.year * 10 + (pe.month - 1) // 3 + 1
    rng = st.rng(salt("restated-values"), salt(api), pkey)
    wiggle = np.where(ver == 1, 1.0 + rng.normal(0.0, 0.015, size=nrow), 1.0)
    parent_scale = np.where(rt_col == "6", econ(st)["parent"][s], 1.0)
    q = (pe.month - 1) // 3 + 1
    out: Frame = {}
    for name, typ in api_fields(api):
        if typ == "str":
            continue
        v, kind = values[name]
        col = v[s]
        if kind == "money":
            col = np.round(col * parent_scale * wiggle, 2)
        elif kind == "ratio":
            col = np.round(col * wiggle, 4)
        else:
            col = np.round(col, 4)
        out[name] = col
    f_ann_dates = dates(f_ann)
    blank = (ver == 0) & (st.rng(salt("no-f-ann-date"), salt(api), pkey).random(nrow) < NO_F_ANN_DATE)
    f_ann_dates[blank] = None
    strs = {
        "ts_code": u.codes[s],
        "ann_date": dates(ann),
        "f_ann_date": f_ann_dates,
        "end_date": np.full(nrow, cal.ymd(pe), dtype=object),
        "report_type": rt_col,
        "comp_type": u.comp_type[s],
        "end_type": np.full(nrow, str(q), dtype=object),
        "update_flag": flag,
    }
    frame: Frame = {}
    for name, typ in api_fields(api):
        frame[name] = strs[name] if typ == "str" else out[name]
    return frame


def statement_values(s: State, api: str, pe: dt.date) -> dict[str, tuple[np.ndarray, str]]:
    """Per-stock values of every float field of ``api`` for period ``pe``.

    Each value comes with its kind: 'money' (scaled for parent statements and restatements),
    'ratio' (restatements only) or 'fixed' (per-share counts that neither touches).
    """
    n = s.stocks
    u = s.u
    e = econ(s)
    q = (pe.month - 1) // 3 + 1
    pkey = pe.year * 10 + q
    cur = annual(s, pe.year)
    prev = annual(s, pe.year - 1)
    rng = s.rng(salt("fundamentals"), pkey)
    # Statements are year-to-date: Q1 holds about a quarter of the year, H1 half, and so on.
    frac = [0.24, 0.49, 0.74, 1.0][q - 1] + (0.0 if q == 4 else rng.normal(0.0, 0.01, size=n))
    rev = cur["revenue"] * frac
    ni = cur["n_income"] * frac * np.exp(rng.normal(0.0, 0.05, size=n))
    shares = u.shares * 1e4
    equity = prev["equity"] + (cur["equity"] - prev["equity"]) * q / 4.0
    lev = e["lev"]
    assets = equity / (1.0 - lev)
    liab = assets - equity
    attr = e["attr"]
    ni_attr = ni * attr
    tca = assets * e["cur_assets"]
    tcl = liab * e["cur_liab"]
    inventories = tca * rng.uniform(0.05, 0.35, size=n)
    money_cap = tca * rng.uniform(0.1, 0.4, size=n)
    ocf = ni * rng.uniform(0.3, 1.8, size=n) + rev * rng.normal(0.0, 0.03, size=n)
    icf = -assets * rng.uniform(0.005, 0.06, size=n) * frac
    fcf = assets * rng.normal(0.0, 0.02, size=n) * frac
    cash_beg = money_cap * rng.uniform(0.7, 1.3, size=n)
    incr = ocf + icf + fcf
    cash_beg = np.maximum(cash_beg, -incr + money_cap * 0.2)
    tax_rate = rng.uniform(0.1, 0.25, size=n)
    total_profit = np.where(ni > 0, ni / (1.0 - tax_rate), ni * 1.02)
    operate_profit = total_profit * rng.uniform(0.95, 1.05, size=n)
    oper_cost = rev * (1.0 - e["gross"])
    fin_exp = rev * rng.uniform(-0.005, 0.03, size=n)
    eps = ni_attr / shares

    money = "money"
    ratio = "ratio"
    fixed = "fixed"
    known: dict[str, tuple[np.ndarray, str]] = {}
    if api == "income":
        known = {
            "basic_eps": (eps, fixed),
            "diluted_eps": (eps * rng.uniform(0.97, 1.0, size=n), fixed),
            "total_revenue": (rev, money),
            "revenue": (rev, money),
            "total_cogs": (rev - operate_profit, money),
            "oper_cost": (oper_cost, money),
            "fin_exp": (fin_exp, money),
            "operate_profit": (operate_profit, money),
            "total_profit": (total_profit, money),
            "income_tax": (total_profit - ni, money),
            "n_income": (ni, money),
            "n_income_attr_p": (ni_attr, money),
            "minority_gain": (ni - ni_attr, money),
            "t_compr_income": (ni, money),
            "compr_inc_attr_p": (ni_attr, money),
            "ebit": (total_profit + fin_exp, money),
            "ebitda": (total_profit + fin_exp + rev * 0.05, money),
            "continued_net_profit": (ni, money),
        }
        scale = rev
    elif api == "balancesheet":
        eq_exc = equity * attr
        known = {
            "total_share": (shares, fixed),
            "total_assets": (assets, money),
            "total_liab": (liab, money),
            "total_cur_assets": (tca, money),
            "total_nca": (assets - tca, money),
            "total_cur_liab": (tcl, money),
            "total_ncl": (liab - tcl, money),
            "money_cap": (money_cap, money),
            "inventories": (inventories, money),
            "total_hldr_eqy_exc_min_int": (eq_exc, money),
            "total_hldr_eqy_inc_min_int": (equity, money),
            "minority_int": (equity - eq_exc, money),
            "total_liab_hldr_eqy": (assets, money),
            "cap_rese": (equity * 0.3, money),
            "undistr_porfit": (equity * 0.35, money),
            "surplus_rese": (equity * 0.08, money),
        }
        scale = assets
    elif api == "cashflow":
        known = {
            "net_profit": (ni, money),
            "finan_exp": (fin_exp, money),
            "c_fr_sale_sg": (rev * 1.08, money),
            "c_inf_fr_operate_a": (rev * 1.12, money),
            "st_cash_out_act": (rev * 1.12 - ocf, money),
            "n_cashflow_act": (ocf, money),
            "n_cashflow_inv_act": (icf, money),
            "n_cash_flows_fnc_act": (fcf, money),
            "n_incr_cash_cash_equ": (incr, money),
            "c_cash_equ_beg_period": (cash_beg, money),
            "c_cash_equ_end_period": (cash_beg + incr, money),
            "free_cashflow": (ocf + icf, money),
            "end_bal_cash": (cash_beg + incr, money),
            "beg_bal_cash": (cash_beg, money),
        }
        scale = rev
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            known = {
                "eps": (eps, fixed),
                "dt_eps": (eps * 0.99, fixed),
                "total_revenue_ps": (rev / shares, fixed),
                "revenue_ps": (rev / shares, fixed),
                "bps": (equity * attr / shares, fixed),
                "ocfps": (ocf / shares, fixed),
                "cfps": (incr / shares, fixed),
                "profit_dedt": (ni_attr * rng.uniform(0.85, 1.0, size=n), money),
                "gross_margin": (rev - oper_cost, money),
                "grossprofit_margin": (e["gross"] * 100.0, ratio),
                "netprofit_margin": (ni / rev * 100.0, ratio),
                "roe": (ni_attr / (equity * attr) * 100.0, ratio),
                "roe_waa": (ni_attr / (equity * attr) * 100.0 * 1.01, ratio),
                "roe_dt": (ni_attr / (equity * attr) * 95.0, ratio),
                "roa": (ni / assets * 100.0, ratio),
                "npta": (ni / assets * 100.0, ratio),
                "debt_to_assets": (lev * 100.0, ratio),
                "assets_to_eqt": (1.0 / (1.0 - lev), ratio),
                "current_ratio": (tca / tcl, ratio),
                "quick_ratio": ((tca - inventories) / tcl, ratio),
                "ebit": (total_profit + fin_exp, money),
                "ebitda": (total_profit + fin_exp + rev * 0.05, money),
            }
        scale = rev

    # Minor fields: plausible magnitudes relative to the statement's scale, ~30% NaN per stock.
    names = [f for f, t in api_fields(api) if t == "float"]
    minor = [f for f in names if f not in known]
    coef_rng = s.rng(salt("coef"), salt(api))
    coef = np.exp(coef_rng.uniform(math.log(1e-3), math.log(0.15), size=len(names)))
    mask = s.rng(salt("mask"), salt(api)).random((n, len(names))) < 0.3
    noise = rng.lognormal(0.0, 0.5, size=(n, len(minor)))
    sign = np.where(rng.random((n, len(minor))) < 0.25, -1.0, 1.0)
    col_of = {f: j for j, f in enumerate(names)}
    out: dict[str, tuple[np.ndarray, str]] = dict(known)
    per_share = scale / shares
    for j, f in enumerate(minor):
        c = coef[col_of[f]]
        z = noise[:, j]
        if api == "fina_indicator":
            v, kind = _fina_minor(f, z, sign[:, j], c, scale, per_share)
        else:
            signed = any(k in f for k in _SIGNED_HINTS)
            v, kind = scale * c * z * (sign[:, j] if signed else 1.0), money
        out[f] = (np.where(mask[:, col_of[f]], np.nan, v), kind)
    return out


_SIGNED_HINTS = ("chg", "gain", "forex", "n_incr", "n_cash", "net_", "loss", "oth_compr", "others", "eff_")
_FINA_MONEY = frozenset(
    word
    for row in table_rows(
        """
    extra_item op_income valuechange_income interst_income daa fcff fcfe current_exint noncurrent_exint
    interestdebt netdebt tangible_asset working_capital networking_capital invest_capital
    retained_earnings fixed_assets profit_prefin_exp non_op_profit q_opincome q_investincome q_dtprofit
    rd_exp
    """
    )
    for word in row
)


def _fina_minor(
    f: str, z: np.ndarray, sign: np.ndarray, c: float, scale: np.ndarray, per_share: np.ndarray
) -> tuple[np.ndarray, str]:
    if f in _FINA_MONEY:
        return scale * c * z * sign, "money"
    if f.endswith(("_yoy", "_qoq")):
        return np.log(z) * 60.0 + 5.0, "ratio"
    if "days" in f:
        return 20.0 + 150.0 * z, "ratio"
    if "turn" in f:
        return 0.8 * z, "ratio"
    if f.endswith("_ps") or "eps" in f or f in ("retainedps",):
        return per_share * c * 5.0 * z * sign, "fixed"
    return 20.0 * z * np.where(sign < 0, 0.2, 1.0), "ratio"


def parse_period(period: object) -> dt.date | None:
    """The quarter end ``period`` names, or None when it is not a 'YYYYMMDD' quarter end."""
    try:
        d = dt.datetime.strptime(str(period), "%Y%m%d").date()
    except ValueError:
        return None
    return d if (d.month, d.day) in ((3, 31), (6, 30), (9, 30), (12, 31)) else None


def _statement(api: str) -> Dataset:
    # Per period (neo.protocol.rules): built once per report period.
    return Dataset(api, lambda m, pe: build_statement(m.state, api, pe))


DATASETS: tuple[Dataset, ...] = tuple(
    _statement(api) for api in ("income", "balancesheet", "cashflow", "fina_indicator")
)
