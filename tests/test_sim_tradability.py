"""Tradability data of the simulator (neo.sim.limits, neo.sim.tradability): price limits honoured by
the bars, ST names, suspensions and money flow, checked against each other and over the protocol."""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from neo.sim import registry
from neo.sim.limits import BSE, CHINEXT, MAIN, STAR, limit_cents, limit_pct
from neo.sim.market import Frame, Market, api_fields
from neo.sim.server import SimHTTPServer
from tests.test_sim_protocol import call

SEEDS = (1, 7, 23)


@pytest.fixture(scope="module", params=SEEDS)
def market(request: pytest.FixtureRequest) -> Market:
    # 2019-2021 crosses the STAR opening (2019-07-22) and the ChiNext reform (2020-08-24).
    return Market(stocks=150, start=dt.date(2019, 1, 1), end=dt.date(2021, 12, 31), seed=request.param)


def rows_of(frame: Frame) -> int:
    return len(next(iter(frame.values())))


def keyed(frame: Frame, *cols: str) -> list[tuple[Any, ...]]:
    return list(zip(*(frame[c].tolist() for c in cols), strict=True))


def day(s: str) -> dt.date:
    return dt.datetime.strptime(s, "%Y%m%d").date()


def test_limit_rule_by_board_date_and_st() -> None:
    d = np.array([dt.date(y, m, dd).toordinal() for y, m, dd in ((2020, 8, 21), (2020, 8, 24), (2026, 7, 6))])
    assert limit_pct(np.int8(MAIN), d, np.array([True, True, True])).tolist() == [5, 5, 10]
    assert limit_pct(np.int8(MAIN), d, np.array([False] * 3)).tolist() == [10, 10, 10]
    assert limit_pct(np.int8(CHINEXT), d, np.array([False] * 3)).tolist() == [10, 20, 20]
    assert limit_pct(np.int8(CHINEXT), d, np.array([True] * 3)).tolist() == [5, 20, 20]
    assert limit_pct(np.int8(STAR), d, np.array([True] * 3)).tolist() == [20, 20, 20]
    assert limit_pct(np.int8(BSE), d, np.array([True] * 3)).tolist() == [30, 30, 30]
    # Round half up in exact cents: 10.05 x 1.1 = 11.055 -> 11.06; 10.05 x 0.9 = 9.045 -> 9.05.
    up, down = limit_cents(np.array([1005, 1]), np.array([10, 5]))
    assert up.tolist() == [1106, 2] and down.tolist() == [905, 0]


def test_every_bar_lies_within_its_stk_limit(market: Market) -> None:
    d, lim = market.frame("daily"), market.frame("stk_limit")
    at = {k: i for i, k in enumerate(keyed(d, "ts_code", "trade_date"))}
    idx = np.array([at[k] for k in keyed(lim, "ts_code", "trade_date")])
    assert rows_of(lim) > 0.99 * rows_of(d)  # only IPO free days are left out
    assert np.array_equal(lim["pre_close"], d["pre_close"][idx])
    for col in ("close", "high", "low", "open"):
        assert np.all(d[col][idx] <= lim["up_limit"]), col
        assert np.all(d[col][idx] >= lim["down_limit"]), col
    assert np.sum(d["close"][idx] == lim["up_limit"]) >= 3
    assert np.sum(d["close"][idx] == lim["down_limit"]) >= 3
    # The limits are exact: round half up of pre_close x (1 +/- ratio), no wider than the board's.
    ratio_up = lim["up_limit"] / lim["pre_close"] - 1
    assert np.all(ratio_up <= 0.3 + 0.01 / lim["pre_close"] + 1e-9)
    # IPO days without a limit are the only daily rows stk_limit lacks, and they are IPO days.
    basic = market.frame("stock_basic")
    listed = dict(keyed(basic, "ts_code", "list_date"))
    missing = set(at) - set(keyed(lim, "ts_code", "trade_date"))
    for code, date in missing:
        opens = [t for t in market.trade_days if listed[code] <= t.strftime("%Y%m%d") <= date]
        assert listed[code] >= "20190101" and len(opens) <= 5


def namechange_periods(market: Market) -> dict[str, list[tuple[str, str | None, str]]]:
    """(start, end, name) per stock without the end_date-null twins, in time order."""
    nc = market.frame("namechange")
    per: dict[str, list[tuple[str, str | None, str]]] = defaultdict(list)
    for code, start, end, name in keyed(nc, "ts_code", "start_date", "end_date", "name"):
        per[code].append((start, end, name))
    out = {}
    for code, rows in per.items():
        rows.sort(key=lambda r: (r[0], r[1] is None, r[1] or ""))
        # A twin repeats an earlier closed period with end_date null: drop it.
        closed = {(s, n) for s, e, n in rows if e is not None}
        out[code] = [r for r in rows if not (r[1] is None and (r[0], r[2]) in closed)]
    return out


def test_namechange_periods_tile_from_list_date(market: Market) -> None:
    basic = market.frame("stock_basic")
    per = namechange_periods(market)
    assert set(per) == set(market.ts_codes)
    for code, name, list_date in keyed(basic, "ts_code", "name", "list_date"):
        rows = per[code]
        assert rows[0][0] == list_date
        for (_, e0, _), (s1, _, _) in itertools.pairwise(rows):
            assert e0 is not None and day(e0) + dt.timedelta(days=1) == day(s1)
        assert rows[-1][1] is None and rows[-1][2] == name  # stock_basic carries the current name
    nc = market.frame("namechange")
    assert set(nc["change_reason"].tolist()) >= {"其他", "ST", "撤销ST"} or "*ST" in nc["change_reason"]
    assert len(set(keyed(nc, "ts_code", "start_date", "name", "end_date"))) == rows_of(nc)


def test_st_names_cover_exactly_the_five_percent_days(market: Market) -> None:
    per = namechange_periods(market)
    d, lim = market.frame("daily"), market.frame("stk_limit")
    basic = market.frame("stock_basic")
    board = dict(keyed(basic, "ts_code", "market"))
    st_days = 0
    for code, date, pre, up in keyed(lim, "ts_code", "trade_date", "pre_close", "up_limit"):
        name = next(n for s, e, n in per[code] if s <= date and (e is None or date <= e))
        is_st = name.startswith(("ST", "*ST"))
        five = board[code] == "主板" or (board[code] == "创业板" and date < "20200824")
        expect = limit_cents(np.array([round(pre * 100)]), np.array([5 if is_st and five else 0]))[0][0]
        if is_st and five:
            assert round(up * 100) == expect, (code, date, name)
            st_days += 1
        elif board[code] == "主板":
            assert (
                round(up * 100) != limit_cents(np.array([round(pre * 100)]), np.array([5]))[0][0] or pre < 0.2
            )
    assert st_days > 0.005 * rows_of(d)


def test_suspensions_match_the_bars(market: Market) -> None:
    d, adj, sus = market.frame("daily"), market.frame("adj_factor"), market.frame("suspend_d")
    daily_keys = set(keyed(d, "ts_code", "trade_date"))
    adj_keys = set(keyed(adj, "ts_code", "trade_date"))
    full = {
        (c, t)
        for c, t, k, tm in keyed(sus, "ts_code", "trade_date", "suspend_type", "suspend_timing")
        if k == "S" and tm is None
    }
    intraday = {
        (c, t)
        for c, t, k, tm in keyed(sus, "ts_code", "trade_date", "suspend_type", "suspend_timing")
        if k == "S" and tm
    }
    resumed = {(c, t) for c, t, k in keyed(sus, "ts_code", "trade_date", "suspend_type") if k == "R"}
    assert full and resumed and intraday
    assert full == adj_keys - daily_keys  # every suspended open day, and only those
    assert resumed <= daily_keys and intraday <= daily_keys
    assert set(sus["suspend_type"].tolist()) == {"S", "R"}


def test_moneyflow_follows_daily(market: Market) -> None:
    d, mf = market.frame("daily"), market.frame("moneyflow")
    at = {k: i for i, k in enumerate(keyed(d, "ts_code", "trade_date"))}
    idx = np.array([at[k] for k in keyed(mf, "ts_code", "trade_date")])  # KeyError: row without a bar
    assert len(idx) == len(set(idx.tolist()))
    assert all(not c.endswith(".BJ") for c in set(mf["ts_code"].tolist()))
    sm, sl = (sum(mf[f"{side}_{c}_amount"] for c in ("sm", "md", "lg", "elg")) for side in ("buy", "sell"))
    assert np.allclose(sm, d["amount"][idx] / 10, rtol=1e-3, atol=0.05)
    assert np.allclose(sl, d["amount"][idx] / 10, rtol=1e-3, atol=0.05)
    vols = sum(mf[f"buy_{c}_vol"] for c in ("sm", "md", "lg", "elg"))
    assert np.all(np.abs(vols - d["vol"][idx]) <= 2 + 1e-3 * d["vol"][idx])
    assert mf["buy_sm_vol"].dtype == np.int64 and mf["net_mf_vol"].dtype == np.int64
    plain = np.round(sm - sl, 2)
    assert np.mean(np.abs(mf["net_mf_amount"] - plain) > 0.01) > 0.9  # not the class-sum difference


def test_frames_follow_fields_json(market: Market) -> None:
    for api in ("namechange", "stk_limit", "suspend_d", "moneyflow"):
        frame = market.frame(api)
        assert list(frame) == [f for f, _ in api_fields(api)]
        for name, typ in api_fields(api):
            want = {"str": object, "float": np.float64, "int": np.int64}[typ]
            assert frame[name].dtype == want, (api, name)
            assert not frame[name].flags.writeable


def test_every_registered_api_is_declared() -> None:
    for api, ds in registry.DATASETS.items():
        assert api_fields(api), api
        if ds.range_column is not None:
            assert ds.range_column in {f for f, _ in api_fields(api)}, api


# ------------------------------------------------------------------------------------------ protocol


@pytest.fixture
def server(sim: Callable[..., SimHTTPServer]) -> SimHTTPServer:
    return sim(
        stocks=60, start=dt.date(2020, 1, 1), end=dt.date(2021, 6, 30), seed=3, caps={"namechange": 25}
    )


def test_namechange_served_with_paging(server: SimHTTPServer) -> None:
    frame = server.sim.market.frame("namechange")
    first = call(server, "namechange")["data"]
    assert len(first["items"]) == 25 and first["has_more"]
    items: list[list[Any]] = []
    offset = 0
    while True:
        page = call(server, "namechange", {"offset": offset})["data"]
        items += page["items"]
        offset += len(page["items"])
        if not page["has_more"]:
            break
    assert len(items) == rows_of(frame) > 25
    assert first["fields"] == ["ts_code", "name", "start_date", "end_date", "ann_date", "change_reason"]
    code = server.sim.market.ts_codes[0]
    one = call(server, "namechange", {"ts_code": code})["data"]["items"]
    assert one and {r[0] for r in one} == {code}
    # start_date/end_date filter ann_date and drop rows whose ann_date is null.
    dated = call(server, "namechange", {"start_date": "20000101", "end_date": "20991231"})["data"]
    assert all(r[4] is not None for r in dated["items"])


def test_stk_limit_served_per_day(server: SimHTTPServer) -> None:
    reply = call(server, "stk_limit", {"trade_date": "20210104"})["data"]
    assert reply["fields"] == ["trade_date", "ts_code", "up_limit", "down_limit"]  # pre_close only when named
    assert reply["items"] and all(r[0] == "20210104" and r[2] > r[3] for r in reply["items"])
    named = call(server, "stk_limit", {"trade_date": "20210104"}, fields="ts_code,pre_close,up_limit")["data"]
    assert all(p < u for _, p, u in named["items"])


def test_suspend_d_served(server: SimHTTPServer) -> None:
    reply = call(server, "suspend_d", {"suspend_type": "R"})["data"]
    assert reply["items"] and {r[3] for r in reply["items"]} == {"R"}
    everything = call(server, "suspend_d", {"start_date": "20200101", "end_date": "20211231"})["data"]
    assert {r[3] for r in everything["items"]} == {"S", "R"}


def test_moneyflow_served_and_needs_a_param(server: SimHTTPServer) -> None:
    reply = call(server, "moneyflow", {"trade_date": "20210104"})["data"]
    assert reply["items"] and "trade_count" not in reply["fields"]
    assert all(isinstance(r[2], int) for r in reply["items"])  # vol in 手: JSON integers
    bare = call(server, "moneyflow")
    assert bare["code"] == 40101 and bare["data"] is None
    assert bare["msg"] == "ts_code or trade_date or start_date or end_date required"
