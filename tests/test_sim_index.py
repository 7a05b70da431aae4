"""The simulator's index and industry APIs keep the cross-dataset rules of NOTES.md "Research datasets"."""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import json
from collections import defaultdict
from typing import Any

import numpy as np
import pytest

from neo.core.config import DEFAULT_INDICES
from neo.sim.index import INDEX_APIS, scaled_rank
from neo.sim.market import Frame, Market, api_fields
from neo.sim.server import SimConfig, Simulator

MARKETS = ("SSE", "SZSE", "CSI", "CICC", "SW", "MSCI", "OTH")
# (stocks, start, end, seed): small universes over 2-3 years, one starting before 科创50's base date.
CASES = (
    (80, dt.date(2022, 1, 1), dt.date(2023, 12, 31), 1),
    (150, dt.date(2019, 1, 1), dt.date(2021, 6, 30), 7),
    (250, dt.date(2022, 7, 1), dt.date(2024, 12, 31), 23),
)


@functools.cache
def market(case: int) -> Market:
    stocks, start, end, seed = CASES[case]
    return Market(stocks, start, end, seed)


def rows(frame: Frame) -> list[dict[str, Any]]:
    cols = list(frame)
    return [
        dict(zip(cols, vals, strict=True)) for vals in zip(*(frame[c].tolist() for c in cols), strict=True)
    ]


def primary_key(api: str) -> list[str]:
    from neo.datasets.spec import api_schemas as shipped

    return list(shipped()[api]["primary_key"])


def ymd(d: dt.date) -> str:
    return d.strftime("%Y%m%d")


@pytest.mark.parametrize("case", range(len(CASES)))
def test_frames_follow_the_conventions(case: int) -> None:
    m = market(case)
    for api in INDEX_APIS:
        f = m.frame(api)
        assert list(f) == [n for n, _ in api_fields(api)], api
        n = len(f["index_code" if "index_code" in f else "ts_code"])
        assert n > 0, api
        for name, typ in api_fields(api):
            col = f[name]
            assert len(col) == n and not col.flags.writeable, (api, name)
            if typ == "float":
                assert col.dtype == np.float64
            else:
                assert all(v is None or type(v) is str for v in col.tolist()), (api, name)
        key = list(zip(*(f[c].tolist() for c in primary_key(api)), strict=True))
        assert len(set(key)) == n, api
    # Built once and cached: the same arrays come back, and a second Market is identical.
    assert m.frame("index_daily")["close"] is m.frame("index_daily")["close"]
    stocks, start, end, seed = CASES[case]
    twin = Market(stocks, start, end, seed)
    for api in INDEX_APIS:
        for col, values in m.frame(api).items():
            assert values.tolist() == twin.frame(api)[col].tolist() or np.allclose(
                values, twin.frame(api)[col], equal_nan=True, rtol=0, atol=0
            ), (api, col)


@pytest.mark.parametrize("case", range(len(CASES)))
def test_index_daily_codes_days_and_identities(case: int) -> None:
    m = market(case)
    basic = {r["ts_code"]: r for r in rows(m.frame("index_basic"))}
    assert {r["market"] for r in basic.values()} <= set(MARKETS)
    for code in DEFAULT_INDICES:  # the indices neo downloads by default
        assert code in basic
    open_days = {ymd(d) for d in m.trade_days}
    daily = m.frame("index_daily")
    weight = m.frame("index_weight")
    assert set(weight["index_code"].tolist()) <= set(basic)
    assert set(daily["ts_code"].tolist()) == set(weight["index_code"].tolist())
    assert not any(c.endswith(".SI") for c in daily["ts_code"].tolist())
    by_code: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows(daily):
        by_code[r["ts_code"]].append(r)
    for code, series in by_code.items():
        series.sort(key=lambda r: r["trade_date"])
        dates = [r["trade_date"] for r in series]
        assert set(dates) <= open_days and len(set(dates)) == len(dates)
        assert dates[0] >= basic[code]["base_date"]
        assert basic[code]["exp_date"] is None or dates[-1] <= basic[code]["exp_date"]
        # Every open day from the first row to the end: no gaps.
        assert dates == sorted(d for d in open_days if d >= dates[0])
        for prev, cur in itertools.pairwise(series):
            assert cur["pre_close"] == prev["close"]
        for r in series:
            assert r["change"] == pytest.approx(r["close"] - r["pre_close"], abs=1e-6)
            assert r["pct_chg"] == pytest.approx(r["change"] / r["pre_close"] * 100, abs=1e-4)
            assert r["low"] <= min(r["open"], r["close"]) <= max(r["open"], r["close"]) <= r["high"]
            assert r["vol"] > 0 and r["amount"] > 0
    # The two codes of CSI 300 are one index.
    assert [r["close"] for r in by_code["000300.SH"]] == [r["close"] for r in by_code["399300.SZ"]]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_index_weight_snapshots(case: int) -> None:
    m = market(case)
    basic = {r["ts_code"]: r for r in rows(m.frame("stock_basic"))}
    w = rows(m.frame("index_weight"))
    snaps: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in w:
        snaps[(r["index_code"], r["trade_date"])].append(r)
    first_of_month: dict[tuple[int, int], str] = {}
    for d in m.trade_days:
        first_of_month.setdefault((d.year, d.month), ymd(d))
    for (code, date), members in snaps.items():
        assert sum(r["weight"] for r in members) == pytest.approx(100, abs=0.1), (code, date)
        assert all(r["weight"] >= 0 for r in members)
        for r in members:
            s = basic[r["con_code"]]
            assert s["list_date"] <= date and (s["delist_date"] is None or date < s["delist_date"])
        exchanges = {basic[r["con_code"]]["exchange"] for r in members}
        boards = {basic[r["con_code"]]["market"] for r in members}
        if code in ("000016.SH", "000688.SH", "000001.SH"):
            assert exchanges == {"SSE"}
        if code in ("000688.SH",):
            assert boards == {"科创板"}
        if code == "399006.SZ":
            assert boards == {"创业板"}
        if code in ("000300.SH", "000905.SH", "000852.SH"):
            assert "BSE" not in exchanges
    # Snapshot days: the first open day of every month once the index runs.
    for code in ("000300.SH", "000001.SH"):
        dates = {d for c, d in snaps if c == code}
        assert set(first_of_month.values()) <= dates
    # Snapshot size = the index size scaled to the universe (CSI 300: ranks 1..s(300)).
    stocks = CASES[case][0]
    sizes = {len(v) for (c, _), v in snaps.items() if c == "000300.SH"}
    assert sizes == {scaled_rank(300, stocks)}
    bands = {len(v) for (c, _), v in snaps.items() if c == "000905.SH"}
    assert bands == {scaled_rank(800, stocks) - scaled_rank(300, stocks)}
    # CSI 300 and CSI 500 never share a member on a snapshot day.
    for (c, d), v in snaps.items():
        if c == "000300.SH":
            assert not {r["con_code"] for r in v} & {r["con_code"] for r in snaps.get(("000905.SH", d), [])}


@pytest.mark.parametrize("case", range(len(CASES)))
def test_index_return_is_the_drifted_weighted_constituent_return(case: int) -> None:
    m = market(case)
    bar = {(r["ts_code"], r["trade_date"]): r["close"] / r["pre_close"] for r in rows(m.frame("daily"))}
    days = [ymd(d) for d in m.trade_days]
    snaps: dict[str, dict[str, list[tuple[str, float]]]] = defaultdict(lambda: defaultdict(list))
    for r in rows(m.frame("index_weight")):
        snaps[r["index_code"]][r["trade_date"]].append((r["con_code"], r["weight"]))
    daily = rows(m.frame("index_daily"))
    rng = np.random.default_rng(case)
    checked = 0
    for i in rng.choice(len(daily), size=min(400, len(daily)), replace=False).tolist():
        r = daily[i]
        t = r["trade_date"]
        s = max(d for d in snaps[r["ts_code"]] if d <= t)
        between = [d for d in days if s <= d < t]  # the snapshot applies to day s itself
        num = den = 0.0
        for con, w in snaps[r["ts_code"]][s]:
            g = float(np.prod([bar.get((con, d), 1.0) for d in between]))
            num += w * g * (bar.get((con, t), 1.0) - 1.0)  # suspended or delisted: 0 return
            den += w * g
        expected = r["pre_close"] * (1 + num / den)
        assert r["close"] == pytest.approx(expected, abs=2e-4), (r["ts_code"], t, s)
        checked += 1
    assert checked >= 100


@pytest.mark.parametrize("src,counts", [("SW2021", (31, 134, 346)), ("SW2014", (28, 104, 227))])
def test_index_classify_tree(src: str, counts: tuple[int, int, int]) -> None:
    f = [r for r in rows(market(0).frame("index_classify")) if r["src"] == src]
    by_level = {lv: [r for r in f if r["level"] == lv] for lv in ("L1", "L2", "L3")}
    assert tuple(len(v) for v in by_level.values()) == counts
    assert all(r["parent_code"] == "0" for r in by_level["L1"])
    assert len({r["industry_code"] for r in f}) == len(f) == len({r["index_code"] for r in f})
    codes = {lv: {r["industry_code"] for r in v} for lv, v in by_level.items()}
    assert all(r["parent_code"] in codes["L1"] for r in by_level["L2"])
    assert all(r["parent_code"] in codes["L2"] for r in by_level["L3"])
    assert all(r["index_code"].endswith(".SI") and r["industry_name"] for r in f)
    # Each is an index_basic row of market SW.
    sw = {r["ts_code"] for r in rows(market(0).frame("index_basic")) if r["market"] == "SW"}
    assert {r["index_code"] for r in f} <= sw


@pytest.mark.parametrize("case", range(len(CASES)))
def test_index_member_all_intervals_and_parent_chain(case: int) -> None:
    m = market(case)
    cls = {r["index_code"]: r for r in rows(m.frame("index_classify")) if r["src"] == "SW2021"}
    ic = {r["industry_code"]: r for r in cls.values()}
    basic = {r["ts_code"]: r for r in rows(m.frame("stock_basic"))}
    members = rows(m.frame("index_member_all"))
    per: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in members:
        per[r["ts_code"]].append(r)
        assert (r["is_new"] == "Y") == (r["out_date"] is None)
        l3, l2, l1 = cls[r["l3_code"]], cls[r["l2_code"]], cls[r["l1_code"]]
        assert (l3["level"], l2["level"], l1["level"]) == ("L3", "L2", "L1")
        assert ic[l3["parent_code"]]["index_code"] == r["l2_code"]
        assert ic[l2["parent_code"]]["index_code"] == r["l1_code"]
        assert (r["l1_name"], r["l2_name"], r["l3_name"]) == (
            l1["industry_name"], l2["industry_name"], l3["industry_name"]
        )  # fmt: skip
        assert r["name"] == basic[r["ts_code"]]["name"]
    assert set(per) == set(basic)
    switched = 0
    for code, spans in per.items():
        spans.sort(key=lambda r: r["in_date"])
        assert spans[0]["in_date"] == basic[code]["list_date"]
        assert sum(r["out_date"] is None for r in spans) <= 1
        for a, b in itertools.pairwise(spans):
            assert a["out_date"] is not None and a["out_date"] < b["in_date"]
            assert a["l3_code"] != b["l3_code"]
        for r in spans:
            assert r["out_date"] is None or r["in_date"] <= r["out_date"]
        delist = basic[code]["delist_date"]
        assert (
            spans[-1]["out_date"] == delist
        )  # open iff still listed; a delisted stock leaves on delist_date
        switched += len(spans) > 1
    assert 0 < switched < len(per) * 0.25


# ------------------------------------------------------------------------------------------ protocol


def ask(sim: Simulator, api: str, params: dict[str, Any] | None = None, fields: str = "") -> dict[str, Any]:
    body = {"api_name": api, "token": "x", "params": params or {}, "fields": fields}
    reply = sim.handle(json.dumps(body).encode())
    assert reply.status == 200
    return json.loads(reply.body)


def page_all(sim: Simulator, api: str, params: dict[str, Any], cap: int) -> list[list[Any]]:
    items: list[list[Any]] = []
    offset = 0
    while True:
        data = ask(sim, api, {**params, "limit": cap, "offset": offset})["data"]
        items += data["items"]
        if len(data["items"]) < cap:
            return items
        offset += cap


@pytest.fixture(scope="module")
def sim() -> Simulator:
    caps = {"index_weight": 7, "index_member_all": 13, "index_basic": 50, "index_daily": 40}
    return Simulator(
        SimConfig(stocks=90, start=dt.date(2023, 1, 1), end=dt.date(2024, 3, 31), seed=5, caps=caps)
    )


def test_index_daily_requires_ts_code(sim: Simulator) -> None:
    for params in ({}, {"trade_date": "20240102"}, {"ts_code": None, "start_date": "20240101"}):
        reply = ask(sim, "index_daily", params)
        assert (reply["code"], reply["msg"], reply["data"]) == (40101, "ts_code required", None)
    ok = ask(sim, "index_daily", {"ts_code": "000300.SH", "start_date": "20240101", "end_date": "20240131"})
    dates = [r[1] for r in ok["data"]["items"]]
    assert ok["code"] == 0 and dates == sorted(dates, reverse=True) and len(dates) == 22
    assert ask(sim, "index_daily", {"ts_code": "801010.SI"})["data"]["items"] == []


def test_index_basic_markets_partition_the_codes(sim: Simulator) -> None:
    every = [r[0] for m in MARKETS for r in page_all(sim, "index_basic", {"market": m}, 50)]
    assert len(every) == len(set(every)) == len(sim.market.frame("index_basic")["ts_code"])
    assert len(every) > 50  # SW alone spans several pages at this cap
    default = ask(sim, "index_basic", {"limit": 50})["data"]
    assert {r[default["fields"].index("market")] for r in default["items"]} == {"SSE"}
    assert "fullname" not in default["fields"] and "exp_date" not in default["fields"]
    named = ask(sim, "index_basic", {"ts_code": "000688.SH"}, fields="ts_code,fullname,base_date,exp_date")
    assert named["data"]["items"] == [["000688.SH", "上证科创板50成份指数", "20191231", None]]


def test_index_weight_pages_whole_market_per_day_and_per_index(sim: Simulator) -> None:
    day = "20240102"
    got = page_all(sim, "index_weight", {"trade_date": day}, 7)
    _, expected = sim.expected("index_weight", {"trade_date": day})
    assert len(got) > 7 * 3 and len(got) == len({tuple(r[:3]) for r in got})
    assert sorted(map(tuple, got)) == sorted(map(tuple, expected))
    assert len({r[0] for r in got}) > 5  # every index, without index_code
    month = page_all(
        sim, "index_weight", {"index_code": "399300.SZ", "start_date": "20240101", "end_date": "20240131"}, 7
    )
    # Two snapshots a month from 2024 on: the first open day and the first on/after the 16th.
    assert {r[0] for r in month} == {"399300.SZ"} and {r[2] for r in month} == {day, "20240116"}
    assert len(month) == 2 * scaled_rank(300, 90)


def test_index_member_all_is_new_filter_and_paging(sim: Simulator) -> None:
    fields = sim.expected("index_member_all", {"is_new": "N"})[0]
    is_new, out = fields.index("is_new"), fields.index("out_date")
    current = page_all(sim, "index_member_all", {}, 13)  # default is_new=Y
    history = page_all(sim, "index_member_all", {"is_new": "N"}, 13)
    assert current and history
    assert all(r[is_new] == "Y" and r[out] is None for r in current)
    assert all(r[is_new] == "N" and r[out] is not None for r in history)
    keys = {
        (r[fields.index("ts_code")], r[fields.index("l3_code")], r[fields.index("in_date")])
        for r in current + history
    }
    assert len(keys) == len(current) + len(history) == len(sim.market.frame("index_member_all")["ts_code"])
    one_l1 = ask(sim, "index_member_all", {"l1_code": current[0][fields.index("l1_code")], "is_new": "Y"})
    assert {r[0] for r in one_l1["data"]["items"]} == {current[0][0]}
    cls = ask(sim, "index_classify", {"level": "L1"})["data"]
    assert len(cls["items"]) == 31 and {r[cls["fields"].index("src")] for r in cls["items"]} == {"SW2021"}
    assert len(ask(sim, "index_classify", {"level": "L1", "src": "SW2014"})["data"]["items"]) == 28
