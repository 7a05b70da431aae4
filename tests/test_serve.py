"""`neo serve` and `neo.pro_api()`: the lake behind Tushare's protocol answers like the simulator it
was downloaded from (same rows and columns, paging, default and named fields), refuses what it has
not downloaded, and reads through the official tushare SDK."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

import neo
from neo import console
from neo.core.config import Settings
from neo.datasets import DATASETS, spec_for_api
from neo.datasets.spec import api_schemas
from neo.lake.model import LakeModel
from neo.pipeline import runner
from neo.pipeline.container import AppContainer
from neo.protocol.core import MSG_API, MSG_TOKEN
from neo.protocol.serve import INCOMPLETE, LakeService, running
from neo.report.status import dataset_status
from neo.report.verify import check_lake, passed
from neo.sim.server import SimConfig, SimHTTPServer, Simulator
from neo.sim.server import running as sim_running
from neo.strategies import Context
from tests.conftest import TOKEN, client_settings, read_line
from tests.support.processes import neo_command

END = date(2024, 3, 31)
MARKET = SimConfig(stocks=30, start=date(2022, 1, 1), end=END, seed=7)
FAST = {"history_start": "20230101", "task_retry_delay": 0.05, "sync_minutes": 0, "retries": 12}
# Small caps for the paging tests, on both servers.
SMALL = {"daily": 7, "income_vip": 9, "namechange": 11, "stock_basic": 5, "index_weight": 13, "dividend": 3}


@dataclasses.dataclass
class World:
    settings: Settings
    server: SimHTTPServer
    lake: LakeService  # the lake with Tushare's caps
    small_sim: Simulator  # the same market and the lake with SMALL caps
    small_lake: LakeService
    parquet: LakeService  # the lake read from Parquet for every request (no months, no reply cache)
    small_parquet: LakeService

    @property
    def sim(self) -> Simulator:
        return self.server.sim


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Every dataset from 2023 to March 2024, downloaded once from a small simulated market."""
    with sim_running(MARKET) as server:
        settings = client_settings(server, tmp_path_factory.mktemp("serve"), **FAST)
        with AppContainer(settings) as container:
            summary = runner.download(container, end=END)
        assert summary.failed == 0
        small = client_settings(server, settings.home, **FAST, row_caps=SMALL)
        lake, small_lake = LakeService(settings), LakeService(small)
        parquet = LakeService(settings, cache_mb=0, months_mb=0)
        small_parquet = LakeService(small, cache_mb=0, months_mb=0)
        small_sim = Simulator(dataclasses.replace(MARKET, caps=SMALL))
        yield World(settings, server, lake, small_sim, small_lake, parquet, small_parquet)
        for service in (lake, small_lake, parquet, small_parquet):
            service.close()


def call(service: Any, api: str, params: dict[str, Any] | None = None, fields: Any = "") -> dict[str, Any]:
    body = {"api_name": api, "token": TOKEN, "params": params or {}, "fields": fields}
    reply = service.handle(orjson.dumps(body))
    assert reply.status == 200
    return orjson.loads(reply.body)  # type: ignore[no-any-return]


def rows(reply: dict[str, Any]) -> list[tuple[Any, ...]]:
    assert reply["code"] == 0, reply["msg"]
    return sorted((tuple(r) for r in reply["data"]["items"]), key=repr)


def same(world: World, api: str, params: dict[str, Any], fields: Any = "") -> dict[str, Any]:
    """The request answered alike by the simulator and the lake (order-insensitive); the lake's reply."""
    want, got = call(world.sim, api, params, fields), call(world.lake, api, params, fields)
    assert got["code"] == 0, got["msg"]
    assert got["data"]["fields"] == want["data"]["fields"]
    assert rows(got) == rows(want), (api, params)
    assert got["data"]["has_more"] == want["data"]["has_more"]
    return got


def first(world: World, api: str, column: str, params: dict[str, Any] | None = None) -> Any:
    items = call(world.sim, api, params or {}, column)["data"]["items"]
    assert items, (api, params)
    return items[0][0]


def cases(world: World) -> dict[str, list[dict[str, Any]]]:
    """A request per dataset's bulk API (as neo downloads it) and per base API where different."""
    stock = first(world, "daily", "ts_code", {"trade_date": "20231010"})
    payer = next(  # a stock that paid a dividend
        r[0] for r in call(world.sim, "dividend", {"ts_code": stock}, "ts_code")["data"]["items"] or [[stock]]
    )
    index = world.settings.indices[0]
    filer = first(world, "income_vip", "ts_code", {"period": "20230630"})  # a stock with statements
    express = first(world, "express_vip", "end_date", {"start_date": "20230101", "end_date": "20231231"})
    announcer = first(world, "express_vip", "ts_code", {"period": express})
    return {
        "stock_basic": [{}, {"list_status": "D"}, {"list_status": "L,P"}],
        "trade_cal": [{"start_date": "20230101", "end_date": "20231231"}, {"exchange": "SZSE"}],
        "daily": [
            {"trade_date": "20230103"},
            {"ts_code": stock, "start_date": "20230601", "end_date": "20231231"},
        ],
        "daily_basic": [{"trade_date": "20240329"}],
        "adj_factor": [
            {"trade_date": "20230704"},
            {"ts_code": f"{stock},000001.SZ", "start_date": "20230101", "end_date": "20240331"},
        ],
        "weekly": [{"trade_date": "20230609"}],
        "monthly": [{"ts_code": stock, "start_date": "20230101", "end_date": "20240331"}],
        "income_vip": [{"period": "20230630"}],
        "income": [{"ts_code": stock, "period": "20230930"}],
        "balancesheet_vip": [{"period": "20231231"}],
        "balancesheet": [{"ts_code": stock, "period": "20230331,20230630"}],
        "cashflow_vip": [{"period": "20230930"}],
        "cashflow": [{"ts_code": filer, "period": "20230930"}],
        "fina_indicator_vip": [{"period": "20230331"}],
        "fina_indicator": [{"ts_code": filer, "start_date": "20230101", "end_date": "20231231"}],
        "index_basic": [{}, {"market": "CSI"}],
        "index_daily": [{"ts_code": index, "start_date": "20230101", "end_date": "20231231"}],
        "index_weight": [{"index_code": index, "start_date": "20230901", "end_date": "20230930"}],
        "index_classify": [{"src": "SW2021"}, {"src": "SW2014", "level": "L1"}],
        "index_member_all": [{}, {"is_new": "N"}],
        "suspend_d": [{"trade_date": "20230815"}],
        "stk_limit": [{"trade_date": "20231106"}],
        "moneyflow": [{"trade_date": "20231201"}],
        "namechange": [{}, {"ts_code": stock}],
        "dividend": [{"ts_code": payer}],
        "disclosure_date": [{"end_date": "20230630"}],
        "forecast_vip": [{"period": "20231231"}],
        "forecast": [{"ts_code": stock, "period": "20230630"}],
        "express_vip": [{"period": express}],
        "express": [{"ts_code": announcer, "period": express}],
    }


def test_every_dataset_api_is_covered(world: World) -> None:
    served = [s for s in DATASETS.values() if s.freq is None]  # minute bars: tests/test_serve_minutes.py
    wanted = {s.api for s in served} | {a for s in served for a in s.apis}
    assert wanted <= set(cases(world)), wanted - set(cases(world))


def test_lake_answers_like_the_simulator(world: World) -> None:
    answered = asked = 0
    for api, requests in cases(world).items():
        for params in requests:
            asked += 1
            answered += bool(same(world, api, params)["data"]["items"])
    assert answered >= asked - 2  # the comparisons are not of empty answers


# The APIs answered from months in memory when asked by date (neo.protocol.months).
BY_DATE = ("daily", "adj_factor", "daily_basic", "weekly", "monthly", "stk_limit", "suspend_d", "moneyflow")
HELD = (date(2023, 1, 1), END)  # what the world's lake holds


def dated_request(world: World, draw: st.DataObject) -> tuple[str, dict[str, Any], Any]:
    """A request by date: named days or a range (sometimes open, or past what the lake holds), maybe
    for some stocks, maybe paged, with the default or named fields."""
    api = draw.draw(st.sampled_from(BY_DATE))
    days = sorted(draw.draw(st.lists(st.dates(*HELD), min_size=1, max_size=3)))
    ymd = [f"{d:%Y%m%d}" for d in days]
    shape = draw.draw(st.sampled_from(["days", "days", "range", "range", "range", "open end", "open start"]))
    params: dict[str, Any]
    if shape == "days":
        params = {"trade_date": ",".join(ymd + draw.draw(st.sampled_from([[], [], ["20230230"], ["2023"]])))}
    elif shape == "range":
        params = {"start_date": ymd[0], "end_date": ymd[-1]}
    elif shape == "open end":
        params = {"start_date": ymd[0]}
    else:
        params = {"end_date": ymd[-1]}
    if draw.draw(st.integers(0, 3)) == 0:
        stocks = [
            r[0] for r in call(world.sim, "daily", {"trade_date": "20231010"}, "ts_code")["data"]["items"]
        ]
        codes = draw.draw(st.lists(st.sampled_from([*stocks[:4], "NO.SZ"]), min_size=1, max_size=3))
        params["ts_code"] = ",".join(codes)
    if draw.draw(st.booleans()):
        params |= {"offset": draw.draw(st.integers(0, 40)), "limit": draw.draw(st.integers(1, 12))}
    names = [f["name"] for f in api_schemas()[api]["fields"]]
    fields: Any = ""
    if draw.draw(st.booleans()):
        fields = ",".join(draw.draw(st.permutations(names))[: draw.draw(st.integers(1, len(names)))])
    return api, params, fields


@settings(max_examples=80, deadline=None)
@given(draw=st.data())
def test_months_in_memory_answer_like_parquet(world: World, draw: st.DataObject) -> None:
    """Byte for byte (but the request id): rows, order, pages, has_more, refusals, with Tushare's
    caps and with small ones."""
    api, params, fields = dated_request(world, draw)
    for held, parquet in ((world.lake, world.parquet), (world.small_lake, world.small_parquet)):
        want = call(parquet, api, params, fields)
        got = call(held, api, params, fields)
        assert {**got, "request_id": ""} == {**want, "request_id": ""}, (api, params, fields)
        event(f"code {want['code']}, {'rows' if want['data'] and want['data']['items'] else 'no rows'}")
    assert world.lake.months.size > 0 and world.parquet.months.size == 0


def test_months_serve_every_page_across_months(world: World) -> None:
    """A range over months, paged at a small cap: the same pages as from Parquet and the simulator."""
    params = {"start_date": "20231215", "end_date": "20240110"}
    pages: dict[str, list[Any]] = {"sim": [], "held": [], "parquet": []}
    for name, service in (
        ("sim", world.small_sim),
        ("held", world.small_lake),
        ("parquet", world.small_parquet),
    ):
        offset = 0
        while True:
            data = call(service, "daily", {**params, "offset": offset})["data"]
            pages[name].append(data["items"])
            if not data["has_more"]:
                break
            offset += len(data["items"])
    assert pages["held"] == pages["parquet"] and len(pages["held"]) > 20
    everything = [r for p in pages["held"] for r in p]
    assert everything == [r for p in pages["sim"] for r in p]
    # The last rows exactly: nothing more follows; one row earlier: one more does.
    for offset, more in ((len(everything) - 3, False), (len(everything) - 4, True)):
        data = call(world.small_lake, "daily", {**params, "offset": offset, "limit": 3})["data"]
        assert (data["items"], data["has_more"]) == (everything[offset : offset + 3], more)


def test_default_and_named_fields(world: World) -> None:
    default = same(world, "stk_limit", {"trade_date": "20231106"})
    assert "pre_close" not in default["data"]["fields"]  # only when named (NOTES.md)
    named = same(world, "stk_limit", {"trade_date": "20231106"}, "pre_close,ts_code,up_limit")
    assert named["data"]["fields"] == ["pre_close", "ts_code", "up_limit"]
    same(world, "income_vip", {"period": "20230630"}, ["ts_code", "end_date", "update_flag", "revenue"])
    bad = call(world.lake, "daily", {"trade_date": "20230103"}, "ts_code,nope")
    assert bad["code"] == -2001 and bad["msg"] == "接口daily不包含字段nope"


@pytest.mark.parametrize(
    ("api", "params"),
    [
        ("daily", {"trade_date": "20230103"}),
        ("income_vip", {"period": "20230630"}),
        ("namechange", {}),
        ("stock_basic", {"list_status": "L,D,P"}),
        ("dividend", {"ts_code": None}),  # filled in below: a stock with several rows
    ],
)
def test_paging_past_a_small_cap(world: World, api: str, params: dict[str, Any]) -> None:
    if api == "dividend":
        params = {"ts_code": first(world, "dividend", "ts_code", {"ann_date": None})}
    cap = SMALL[api]
    pages: dict[str, list[tuple[Any, ...]]] = {}
    for name, service in (("sim", world.small_sim), ("lake", world.small_lake)):
        got: list[tuple[Any, ...]] = []
        offset = 0
        while True:
            reply = call(service, api, {**params, "offset": offset, "limit": 100})
            assert reply["code"] == 0, reply["msg"]
            items = reply["data"]["items"]
            assert len(items) <= cap
            got += [tuple(r) for r in items]
            if not reply["data"]["has_more"]:
                break
            assert len(items) == cap
            offset += len(items)
        pages[name] = got
    assert len(pages["lake"]) > cap  # paged at least once
    assert len(set(pages["lake"])) == len(pages["lake"])  # pages never overlap
    assert sorted(pages["lake"], key=repr) == sorted(pages["sim"], key=repr)
    limited = call(world.small_lake, api, {**params, "limit": 2, "offset": 1})["data"]
    assert [tuple(r) for r in limited["items"]] == pages["lake"][1:3] and limited["has_more"]


def test_newest_first(world: World) -> None:
    stock = first(world, "daily", "ts_code", {"trade_date": "20231010"})
    reply = call(world.lake, "daily", {"ts_code": stock, "start_date": "20230101", "end_date": "20231231"})
    dates = [r[1] for r in reply["data"]["items"]]
    assert dates == sorted(dates, reverse=True) and len(dates) > 100


def test_requests_the_lake_lacks_are_refused(world: World) -> None:
    # Before the lake's history (the market has 2022, the lake starts in 2023).
    reply = call(world.lake, "daily", {"trade_date": "20220105"})
    assert reply["code"] == INCOMPLETE and reply["data"] is None
    assert "daily" in reply["msg"] and "20220105" in reply["msg"]
    assert "neo download daily --start 20220105 --end 20220105" in reply["msg"]
    assert "\n" not in reply["msg"]
    # A range running past the last download.
    stock = first(world, "daily", "ts_code", {"trade_date": "20231010"})
    reply = call(
        world.lake, "adj_factor", {"ts_code": stock, "start_date": "20240301", "end_date": "20240410"}
    )
    assert reply["code"] == INCOMPLETE and "20240401" in reply["msg"] and "20240329" not in reply["msg"]
    # An open start means the whole history, which the lake lacks (the market starts in 2022).
    reply = call(world.lake, "adj_factor", {"ts_code": stock, "end_date": "20240331"})
    assert reply["code"] == INCOMPLETE and "neo download adj_factor --start 2022" in reply["msg"]
    # A value of a defaulted param neo does not download (statements: report_type 1 only).
    reply = call(world.lake, "cashflow_vip", {"period": "20230930", "report_type": "6"})
    assert reply["code"] == INCOMPLETE and "report_type=1 only" in reply["msg"]
    assert call(world.sim, "cashflow_vip", {"period": "20230930", "report_type": "6"})["data"]["items"]
    # A report period never downloaded, an index window never downloaded.
    reply = call(world.lake, "income_vip", {"period": "20221231"})
    assert reply["code"] == INCOMPLETE and "20221231" in reply["msg"]
    reply = call(
        world.lake, "index_daily", {"ts_code": "399006.SZ", "start_date": "20230101", "end_date": "20230301"}
    )
    if "399006.SZ" not in world.settings.indices:
        assert reply["code"] == INCOMPLETE and "--codes 399006.SZ" in reply["msg"]
    # What the lake holds is answered: the same day just inside its history.
    assert call(world.lake, "daily", {"trade_date": "20230103"})["code"] == 0


def test_a_day_the_ledger_saw_empty_is_not_a_gap(world: World, tmp_path: Any) -> None:
    """A trade date that returned no rows is held (answered empty), not refused."""
    spec = spec_for_api("suspend_d")
    assert spec is not None
    empty = [
        e.params["trade_date"]
        for e in world.lake.lake.model().entries(spec).values()
        if e.status == "done" and e.rows == 0
    ]
    if not empty:
        pytest.skip("every day of this market has a suspension")
    reply = call(world.lake, "suspend_d", {"trade_date": empty[0]})
    assert reply["code"] == 0 and reply["data"]["items"] == []


def per_stock_days(settings: Settings) -> list[str]:
    """The days of daily that `neo status` and `neo verify` name as downloaded per stock only (the
    same, or this fails), with verify's verdict on them."""
    with LakeModel(settings) as lake:
        shown = dataset_status(Context(lake), DATASETS["daily"]).per_stock_only
    [health] = check_lake(settings, ["daily"])
    _, lines = console.verify([health])
    assert health.per_stock_only == shown
    assert passed([health]) is not bool(shown)
    assert not shown or any("for some stocks only (neo download --codes)" in line for line in lines)
    return shown


def test_days_downloaded_for_some_stocks_only_are_refused_to_the_whole_market(
    sim: Callable[..., SimHTTPServer], tmp_path: Path
) -> None:
    """`neo download daily --codes A,B` holds those stocks' rows on each day: a whole-market
    request for the days is refused, one for A is answered, one for another stock is refused,
    until the whole market is downloaded."""
    server = sim(stocks=12, end=date(2024, 2, 29))
    settings = client_settings(server, tmp_path, **{**FAST, "history_start": "20240102"})
    stocks = [r[0] for r in call(server.sim, "daily", {"trade_date": "20240105"}, "ts_code")["data"]["items"]]
    lake = LakeService(settings)
    try:
        with AppContainer(settings) as app:
            assert runner.download(app, ["trade_cal"]).failed == 0
            summary = runner.download(
                app, ["daily"], start=date(2024, 1, 2), end=date(2024, 1, 31), codes=stocks[:2]
            )
            assert summary.failed == 0
            for params in ({"trade_date": "20240105"}, {"ts_code": stocks[2], "trade_date": "20240105"}):
                reply = call(lake, "daily", params)
                assert reply["code"] == INCOMPLETE and "\n" not in reply["msg"]
                assert "20240105" in reply["msg"] and "for a few stocks only" in reply["msg"]
                assert "neo download daily --start 20240105 --end 20240105" in reply["msg"]
            month = call(lake, "daily", {"start_date": "20240102", "end_date": "20240131"})
            assert "neo download daily --start 20240102 --end 20240131" in month["msg"]
            mine = {"ts_code": ",".join(stocks[:2]), "start_date": "20240102", "end_date": "20240131"}
            assert rows(call(lake, "daily", mine)) == rows(call(server.sim, "daily", mine))
            # `neo status` and `neo verify` say which days these are (the calls were for the year,
            # so February's too), and verify fails on them.
            partial = per_stock_days(settings)
            assert partial[0] == "20240102" and partial[-1] == "20240229" and "20240105" in partial
            assert runner.download(app, ["daily"], start=date(2024, 1, 5), end=date(2024, 1, 5)).failed == 0
        assert rows(call(lake, "daily", {"trade_date": "20240105"})) == rows(
            call(server.sim, "daily", {"trade_date": "20240105"})
        )
        assert call(lake, "daily", {"trade_date": "20240108"})["code"] == INCOMPLETE
        assert per_stock_days(settings) == [d for d in partial if d != "20240105"]
    finally:
        lake.close()


def test_unknown_api_token_and_required_params(world: World) -> None:
    for unknown in ["no_such_api", *(a for a in api_schemas() if spec_for_api(a) is None)]:
        assert (call(world.lake, unknown)["code"], call(world.lake, unknown)["msg"]) == (40101, MSG_API)
    guarded = LakeService(world.settings, token="only-this")
    try:
        assert call(guarded, "trade_cal")["msg"] == MSG_TOKEN
        body = {"api_name": "trade_cal", "token": "only-this", "params": {}}
        assert orjson.loads(guarded.handle(orjson.dumps(body)).body)["code"] == 0
    finally:
        guarded.close()
    body = {"api_name": "trade_cal", "token": "", "params": {}}
    assert orjson.loads(world.lake.handle(orjson.dumps(body)).body)["msg"] == MSG_TOKEN
    reply = call(world.lake, "index_daily", {"start_date": "20230101"})
    assert (reply["code"], reply["msg"]) == (40101, "ts_code required")


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"{not json", "the request body is not JSON"),
        (b"", "the request body is empty"),
        (b"[1, 2]", "the request body is a list"),
        (b'{"api_name": "daily", "token": "t", "params": [1]}', "params must be a JSON object"),
        (b'{"api_name": "daily", "token": "t", "params": {}, "fields": 5}', "fields must be comma-separated"),
        (
            b'{"api_name": "daily", "token": "t", "params": {}, "fields": [1]}',
            "fields must be comma-separated",
        ),
        (
            b'{"api_name": "daily", "token": "t", "params": {"trade_date": {"a": 1}}}',
            "params.trade_date must be",
        ),
        (
            b'{"api_name": "daily", "token": "t", "params": {"trade_date": "20230103", "limit": "ten"}}',
            "params.limit must be a whole number",
        ),
    ],
)
def test_a_malformed_request_is_told_what_is_wrong(world: World, body: bytes, says: str) -> None:
    """Code -1000 (a malformed request: fix it, do not retry), with what is wrong instead of
    Tushare's bare 系统内部错误, which the simulator keeps."""
    reply = orjson.loads(world.lake.handle(body).body)
    assert reply["code"] == -1000 and reply["data"] is None
    assert reply["msg"].startswith(f"neo serve: {says}") and "\n" not in reply["msg"], reply["msg"]
    assert orjson.loads(world.sim.handle(body).body)["msg"] == "系统内部错误"


def test_a_malformed_request_over_http(world: World) -> None:
    with running(world.settings) as server:
        reply = httpx.post(f"{server.url}/dataapi", content=b"api_name=daily", timeout=30)
    assert reply.status_code == 200 and reply.json()["code"] == -1000
    assert reply.json()["msg"].startswith("neo serve: the request body is not JSON; send a JSON object")


def test_pro_api_in_process(world: World) -> None:
    pd = pytest.importorskip("pandas")
    pro = neo.pro_api(world.settings)
    try:
        df = pro.daily(trade_date="20230103")
        want = call(world.sim, "daily", {"trade_date": "20230103"})["data"]
        assert list(df.columns) == want["fields"]
        assert df.equals(pd.DataFrame(want["items"], columns=want["fields"]))  # values and dtypes
        assert df["vol"].dtype == "float64" and df["trade_date"].dtype == df["ts_code"].dtype
        named = pro.query(
            "income", ts_code=df["ts_code"][0], period="20230930", fields="end_date,ts_code,revenue"
        )
        assert list(named.columns) == ["end_date", "ts_code", "revenue"]
        with pytest.raises(Exception, match="neo download daily"):
            pro.daily(trade_date="20220105")
    finally:
        pro.close()


def test_tushare_sdk_reads_through_neo_serve(world: World) -> None:
    ts = pytest.importorskip("tushare")
    import pandas as pd

    stock = first(world, "daily", "ts_code", {"trade_date": "20231010"})
    with running(world.settings) as server:
        lake = ts.pro_api(TOKEN)
        lake._DataApi__http_url = f"{server.url}/dataapi"  # tushare 1.4.29 posts to {this}/{api_name}
        sim = ts.pro_api(TOKEN)
        sim._DataApi__http_url = f"{world.server.url}/dataapi"

        def check(a: pd.DataFrame, b: pd.DataFrame) -> None:
            assert list(a.columns) == list(b.columns) and len(a) > 0
            key = [c for c in ("ts_code", "trade_date") if c in a.columns]
            pd.testing.assert_frame_equal(
                a.sort_values(key).reset_index(drop=True), b.sort_values(key).reset_index(drop=True)
            )

        check(lake.daily(trade_date="20231010"), sim.daily(trade_date="20231010"))
        check(
            lake.daily(
                ts_code=stock, start_date="20230601", end_date="20231231", fields="ts_code,trade_date,close"
            ),
            sim.daily(
                ts_code=stock, start_date="20230601", end_date="20231231", fields="ts_code,trade_date,close"
            ),
        )
        bars = {
            name: ts.pro_bar(ts_code=stock, adj="qfq", start_date="20230301", end_date="20231130", api=api)
            for name, api in (("lake", lake), ("sim", sim))
        }
        check(bars["lake"], bars["sim"])
        with pytest.raises(Exception, match="neo download"):
            lake.daily(trade_date="20220105")


def test_reply_cache_follows_the_lake(world: World) -> None:
    service = LakeService(world.settings, cache_mb=16)
    try:
        assert service.cache is not None
        params = {"trade_date": "20230103"}
        once = call(service, "daily", params)
        again = call(service, "daily", params)
        assert again["data"] == once["data"] and again["request_id"] != once["request_id"]
        kept = len(service.cache._entries)
        # A download finishing changes the ledger: the next request reads the lake again.
        ledger = world.settings.ledger_path
        stat = ledger.stat()
        os.utime(ledger, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
        assert call(service, "daily", params)["data"] == once["data"]
        assert len(service.cache._entries) == kept + 1
    finally:
        service.close()


def test_neo_serve_command(world: World) -> None:
    env = {**os.environ, "NEO_HOME": str(world.settings.home), "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [*neo_command(), "serve", "--port", "0", "--token", "s3cret"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = read_line(proc.stderr, 60, "neo serve's address")  # type: ignore[arg-type]
        url = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
        assert url, line
        body = {"api_name": "daily", "token": "s3cret", "params": {"trade_date": "20230103"}, "fields": ""}
        reply = httpx.post(f"{url.group(1)}/dataapi/daily", content=orjson.dumps(body), timeout=30).json()
        assert reply["code"] == 0 and len(reply["data"]["items"]) > 10
        wrong = httpx.post(url.group(1), content=orjson.dumps({**body, "token": "other"}), timeout=30).json()
        assert wrong["msg"] == MSG_TOKEN
        assert "s3cret" not in line
    finally:
        proc.terminate()
        proc.wait(timeout=10)
