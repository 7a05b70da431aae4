"""The simulator's corporate-action and disclosure APIs agree with its bars and statements
(NOTES.md "Research datasets") and are served with Tushare's params, caps and paging."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable
from datetime import date
from typing import Any

import numpy as np
import pytest

from neo.sim import calendar as cal
from neo.sim.market import Frame, Market
from neo.sim.server import SimHTTPServer
from tests.test_sim_protocol import call

SEEDS = (1, 7, 2024)
START, END = date(2021, 1, 1), date(2024, 6, 30)
INCREASE = {"预增", "略增", "扭亏"}
DECREASE = {"预减", "略减", "首亏"}


@functools.cache
def market(seed: int) -> Market:
    return Market(stocks=120, start=START, end=END, seed=seed)


def rows(frame: Frame) -> list[dict[str, Any]]:
    names = list(frame)
    return [
        dict(zip(names, vals, strict=True)) for vals in zip(*(frame[n].tolist() for n in names), strict=True)
    ]


def by_code_date(frame: Frame, value: str) -> dict[tuple[str, str], float]:
    return dict(
        zip(
            zip(frame["ts_code"].tolist(), frame["trade_date"].tolist(), strict=True),
            frame[value].tolist(),
            strict=True,
        )
    )


def first_versions(m: Market, api: str, period: str) -> dict[str, dict[str, Any]]:
    """Report-type-1 row first known per ts_code (f_ann_date, else ann_date: a few have none)."""
    out: dict[str, dict[str, Any]] = {}
    for r in rows(m.statement(api, period)):
        if r["report_type"] == "1":
            old = out.get(r["ts_code"])
            if old is None or (r["f_ann_date"] or r["ann_date"]) < (old["f_ann_date"] or old["ann_date"]):
                out[r["ts_code"]] = r
    return out


@pytest.mark.parametrize("seed", SEEDS)
def test_dividend_implementation_matches_adj_factor_and_daily(seed: int) -> None:
    m = market(seed)
    div = rows(m.frame("dividend"))
    adj = by_code_date(m.frame("adj_factor"), "adj_factor")
    daily = m.frame("daily")
    closes: dict[str, list[tuple[str, float, float]]] = {}
    for code, day, close, pre in zip(
        daily["ts_code"].tolist(),
        daily["trade_date"].tolist(),
        daily["close"].tolist(),
        daily["pre_close"].tolist(),
        strict=True,
    ):
        closes.setdefault(code, []).append((day, close, pre))
    for bars in closes.values():
        bars.sort()
    end = cal.ymd(END)

    implemented = [r for r in div if r["div_proc"] == "实施"]
    assert len(implemented) > 100
    for r in implemented:
        ex = r["ex_date"]
        ex_d = date(int(ex[:4]), int(ex[4:6]), int(ex[6:]))
        prev_day = cal.ymd(cal.prev_open_day(ex_d))
        assert r["record_date"] == prev_day
        assert r["ann_date"] <= r["imp_ann_date"] < r["record_date"] < ex <= end
        assert r["pay_date"] == ex
        assert r["end_date"] == f"{int(ex[:4]) - 1}1231"
        assert r["stk_div"] == r["stk_bo_rate"] + r["stk_co_rate"] == 0.0
        assert 0 < r["cash_div"] < r["cash_div_tax"]  # after tax below pre-tax
        ratio = adj[(r["ts_code"], ex)] / adj[(r["ts_code"], prev_day)]
        assert ratio > 1.0
        bars = closes[r["ts_code"]]
        i = next((k for k, b in enumerate(bars) if b[0] >= ex), len(bars))
        prev_close = bars[i - 1][1]
        # The first bar on or after ex_date shows the ex-rights pre_close; a stock halted from
        # before ex_date to the end has no such bar: then it is the bar model's ex-rights price.
        pre_close = bars[i][2] if i < len(bars) else round(prev_close / ratio, 2)
        assert round((prev_close - r["cash_div_tax"]) / (1 + r["stk_div"]), 2) == pytest.approx(
            pre_close, abs=1e-9
        )
        # factor rounding (3 decimals) and price rounding (0.01) bound the mismatch
        tol = (prev_close / pre_close) * (0.0011 / adj[(r["ts_code"], prev_day)] + 0.0051 / pre_close)
        assert abs(ratio - prev_close / pre_close) <= tol

    # Every factor step carries its dividend (the bar model has no rights issues).
    steps = set()
    f = m.frame("adj_factor")
    codes, days, vals = f["ts_code"], f["trade_date"], f["adj_factor"]
    for k in np.flatnonzero((codes[1:] == codes[:-1]) & (vals[1:] > vals[:-1])) + 1:
        steps.add((codes[k], days[k]))
    assert {(r["ts_code"], r["ex_date"]) for r in implemented} == steps

    # Stages of one event share ann_date; only 实施 rows carry the implementation dates.
    events: dict[tuple[str, str, str], set[str]] = {}
    for r in div:
        events.setdefault((r["ts_code"], r["end_date"], r["ann_date"]), set()).add(r["div_proc"])
        assert r["ann_date"] <= end
        if r["div_proc"] != "实施":
            assert r["record_date"] is r["ex_date"] is r["pay_date"] is r["imp_ann_date"] is None
    assert all("预案" in procs for procs in events.values())
    assert any("实施" not in procs for procs in events.values())  # plans that never paid
    flags = Counter((r["div_proc"], r["update_flag"]) for r in div)
    assert set(flags) <= {("预案", "0"), ("股东大会通过", "0"), ("实施", "0"), ("实施", "1")}
    keys = [(r["ts_code"], r["end_date"], r["ann_date"], r["div_proc"], r["update_flag"]) for r in div]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize("seed", SEEDS)
def test_disclosure_actual_date_is_the_first_statement(seed: int) -> None:
    m = market(seed)
    dd = rows(m.frame("disclosure_date"))
    first: dict[tuple[str, str], str] = {}
    for period in m.periods():
        for api in ("income", "balancesheet", "cashflow"):
            s = m.statement(api, period)
            for code, ann in zip(s["ts_code"].tolist(), s["ann_date"].tolist(), strict=True):
                key = (code, period)
                first[key] = min(first.get(key, ann), ann)
    seen = {(r["ts_code"], r["end_date"]): r for r in dd}
    assert len(seen) == len(dd)
    assert set(first) <= set(seen)
    end = cal.ymd(END)
    for key, r in seen.items():
        assert r["actual_date"] == first.get(key)
        assert r["ann_date"] <= end
        if r["actual_date"] is not None:
            assert r["ann_date"] <= r["actual_date"]
        if r["modify_date"] is not None:
            assert r["modify_date"] == r["actual_date"] != r["pre_date"]
    moved = [r for r in dd if r["actual_date"] and r["pre_date"] != r["actual_date"]]
    assert moved and all(r["modify_date"] for r in moved)
    pending = [r for r in dd if r["actual_date"] is None]
    assert pending and all(r["pre_date"] > end for r in pending)


@pytest.mark.parametrize("seed", SEEDS)
def test_forecasts_precede_statements_with_consistent_ranges(seed: int) -> None:
    m = market(seed)
    fc = rows(m.frame("forecast"))
    assert len(fc) > 30
    cache: dict[str, dict[str, dict[str, Any]]] = {}
    types = Counter()
    for r in fc:
        stmt = cache.setdefault(r["end_date"], first_versions(m, "income", r["end_date"]))[r["ts_code"]]
        assert r["first_ann_date"] <= r["ann_date"] <= stmt["ann_date"]
        assert r["p_change_min"] <= r["p_change_max"]
        assert r["net_profit_min"] <= r["net_profit_max"]
        actual = stmt["n_income_attr_p"] / 1e4
        slack = 0.15 * abs(actual)
        assert r["net_profit_min"] - slack <= actual <= r["net_profit_max"] + slack
        last = r["last_parent_net"]
        t = r["type"]
        types[t] += 1
        if t in ("首亏", "续亏"):
            assert r["net_profit_max"] < 0
        else:
            assert r["net_profit_min"] > 0
        assert (last < 0) == (t in ("扭亏", "续亏"))
        if t in INCREASE:
            assert r["p_change_max"] > 0
        if t in DECREASE:
            assert r["p_change_min"] < 0
        # Both in profit: the size of the change at the range's midpoint names the type (the
        # bounds are rounded to 0.01 万元, hence the 0.1-point slack).
        mid = (r["p_change_min"] + r["p_change_max"]) / 2
        bands = {
            "预增": (49.9, 1e9),
            "略增": (4.9, 50.1),
            "续盈": (-5.1, 5.1),
            "略减": (-50.1, -4.9),
            "预减": (-1e9, -49.9),
        }
        if t in bands:
            assert bands[t][0] <= mid <= bands[t][1], (t, mid)
    assert len(types) >= 4
    keys = [(r["ts_code"], r["end_date"], r["ann_date"], r["type"], r["update_flag"]) for r in fc]
    assert len(keys) == len(set(keys))
    revised = [r for r in fc if r["notice_times"] == 2]
    for r in revised:
        orig = [
            o
            for o in fc
            if (o["ts_code"], o["end_date"], o["notice_times"]) == (r["ts_code"], r["end_date"], 1)
        ]
        assert len(orig) == 1 and orig[0]["update_flag"] == "0" and r["update_flag"] == "1"
        assert orig[0]["first_ann_date"] == r["first_ann_date"] < r["ann_date"]


@pytest.mark.parametrize("seed", SEEDS)
def test_express_is_close_to_the_formal_statements(seed: int) -> None:
    m = market(seed)
    ex = rows(m.frame("express"))
    assert len(ex) > 20
    for r in ex:
        inc = first_versions(m, "income", r["end_date"])[r["ts_code"]]
        bal = first_versions(m, "balancesheet", r["end_date"])[r["ts_code"]]
        assert r["ann_date"] < inc["ann_date"]
        for name, src in (
            ("revenue", inc),
            ("operate_profit", inc),
            ("total_profit", inc),
            ("n_income", inc),
            ("total_assets", bal),
            ("total_hldr_eqy_exc_min_int", bal),
        ):
            assert r[name] == pytest.approx(src[name], rel=0.02), name
        assert isinstance(r["is_audit"], int)


def test_tables_are_deterministic() -> None:
    a, b = Market(40, START, END, seed=5), Market(40, START, END, seed=5)
    for api in ("dividend", "disclosure_date", "forecast", "express"):
        b.frame("daily")  # build order must not matter
        fa, fb = a.frame(api), b.frame(api)
        assert list(fa) == list(fb)
        for k in fa:
            assert fa[k].tolist() == fb[k].tolist() or np.array_equal(fa[k], fb[k], equal_nan=True)


# -- served through the protocol ------------------------------------------------------------------


@pytest.fixture
def corp(sim: Callable[..., SimHTTPServer]) -> SimHTTPServer:
    caps = {"dividend": 13, "disclosure_date": 11, "forecast_vip": 3, "express_vip": 2, "forecast": 4}
    return sim(stocks=60, start=date(2022, 1, 1), end=date(2024, 6, 30), seed=3, caps=caps)


def pages(server: SimHTTPServer, api: str, params: dict[str, Any], fields: str) -> list[list[Any]]:
    out: list[list[Any]] = []
    while True:
        reply = call(server, api, {**params, "offset": len(out)}, fields=fields)
        assert reply["code"] == 0, reply
        items = reply["data"]["items"]
        out += items
        if not reply["data"]["has_more"]:
            return out
        assert items


@pytest.mark.parametrize(
    ("api", "params"),
    [
        ("dividend", {"end_date": "20221231"}),
        ("disclosure_date", {"end_date": "20231231"}),
        ("forecast_vip", {"period": "20231231"}),
        ("express_vip", {"period": "20231231"}),
        ("forecast", {"ts_code": None}),  # filled in below with a code that has forecasts
    ],
)
def test_paging_past_the_cap_returns_every_row_once(
    corp: SimHTTPServer, api: str, params: dict[str, Any]
) -> None:
    if api == "forecast":
        codes = Counter(corp.sim.market.frame("forecast")["ts_code"].tolist())
        params = {"ts_code": codes.most_common(1)[0][0]}
    names, expected = corp.sim.expected(api, params)
    assert len(expected) > corp.sim.config.cap(api)
    got = pages(corp, api, params, ",".join(names))
    assert sorted(map(repr, got)) == sorted(map(repr, expected))
    assert len({repr(r) for r in got}) == len(got)
    end_col = names.index("end_date")
    if "period" in params or api in ("dividend", "disclosure_date"):
        wanted = params.get("period", params.get("end_date"))
        assert {r[end_col] for r in got} == {wanted}


def test_required_params_and_vip_calls(corp: SimHTTPServer) -> None:
    for api, params, msg in (
        ("forecast", {}, "ts_code or ann_date required"),
        ("forecast", {"period": "20231231"}, "ts_code or ann_date required"),
        ("express", {"period": "20231231"}, "ts_code required"),
    ):
        reply = call(corp, api, params)
        assert (reply["code"], reply["msg"], reply["data"]) == (40101, msg, None)
    fc = corp.sim.market.frame("forecast")
    day = fc["ann_date"][0]
    by_day = call(corp, "forecast", {"ann_date": day})["data"]
    assert by_day["items"] and all(r[by_day["fields"].index("ann_date")] == day for r in by_day["items"])
    code = corp.sim.market.frame("express")["ts_code"][0]
    per_code = call(corp, "express", {"ts_code": code})["data"]
    assert per_code["items"] and "yoy_sales" not in per_code["fields"]
    named = call(corp, "express", {"ts_code": code}, fields="ts_code,end_date,yoy_sales")["data"]
    assert named["fields"] == ["ts_code", "end_date", "yoy_sales"]
    whole = call(corp, "express_vip", {"period": "20231231", "limit": 1000})["data"]
    assert whole["items"] and all(r[2] == "20231231" for r in whole["items"])
    # start/end_date bound forecast's ann_date; period picks the report period
    window = corp.sim.expected(
        "forecast_vip", {"period": "20231231", "start_date": "20240101", "end_date": "20240131"}
    )
    idx = window[0].index("ann_date")
    assert window[1] and all("20240101" <= r[idx] <= "20240131" for r in window[1])
    assert "update_flag" not in call(corp, "dividend", {"ts_code": code})["data"]["fields"]
