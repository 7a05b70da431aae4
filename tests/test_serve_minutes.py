"""`neo serve` and `neo.pro_api()` answer the minute APIs (stk_mins, idx_mins) from a lake downloaded
from the simulator as the simulator answers them. The official SDK's `pro_bar` at 1min and 5min,
unadjusted, qfq and hfq (for which it asks adj_factor with the minute bounds as dates), returns the
same DataFrame from both; replies carry the same rows in the same order, fields and paging for any
window (partial days, bare dates, the row cap); what the lake lacks is refused with the command
that fills it."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import orjson
import pytest

import neo
from neo.core.config import Settings
from neo.pipeline import runner
from neo.pipeline.container import AppContainer
from neo.protocol.core import MSG_CHOICE
from neo.protocol.minutes import MSG_ONE_CODE
from neo.protocol.rules import MINUTE_FREQS
from neo.protocol.serve import INCOMPLETE, LakeService, running
from neo.sim.server import SimConfig, SimHTTPServer
from neo.sim.server import running as sim_running
from tests.conftest import TOKEN, client_settings

END = date(2023, 7, 31)
MARKET = SimConfig(stocks=20, start=date(2023, 3, 1), end=END, seed=5)
INDEX = "000300.SH"
DATASETS = [
    "trade_cal",
    "stock_basic",
    "daily",
    "adj_factor",
    "index_daily",
    "stk_mins",
    "stk_mins_5min",
    "idx_mins",
]
FAST = {"history_start": "20230601", "task_retry_delay": 0.05, "sync_minutes": 0, "compact_after_files": 0}
# Two months with ex-dates in them (adj_factor changes): at 1min more than the 8,000-row cap, so
# one call answers the newest 8,000 bars.
WINDOW = {"start_date": "2023-06-01 09:00:00", "end_date": "2023-07-31 15:00:00"}


@dataclasses.dataclass
class World:
    settings: Settings
    server: SimHTTPServer
    lake: LakeService
    codes: list[str]

    @property
    def sim(self) -> Any:
        return self.server.sim


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Two stocks' 1min and 5min bars and an index's 1min bars over June and July 2023, with the
    daily data and adjustment factors: downloaded once. The stocks, one of Shenzhen and one of
    Shanghai, listed before the market starts, each have an ex-date in those months."""
    with sim_running(MARKET) as server:
        names, rows = server.sim.expected("stock_basic", {"list_status": "L"})
        listed = {r[0] for r in rows if r[names.index("list_date")] < f"{MARKET.start:%Y%m%d}"}
        _, factors = server.sim.expected("adj_factor", {"start_date": "20230601", "end_date": "20230731"})
        moved = sorted(c for c in listed if len({f for code, _, f in factors if code == c}) > 1)
        codes = [next(c for c in moved if c.endswith(".SZ")), next(c for c in moved if c.endswith(".SH"))]
        settings = client_settings(
            server,
            tmp_path_factory.mktemp("serve_minutes"),
            **FAST,
            minute_stocks=codes,
            minute_indices=[INDEX],
            indices=[INDEX],
        )
        with AppContainer(settings) as container:
            summary = runner.download(container, datasets=DATASETS, end=END)
        assert summary.failed == 0
        lake = LakeService(settings)
        yield World(settings, server, lake, codes)
        lake.close()


def call(service: Any, api: str, params: dict[str, Any], fields: Any = "") -> dict[str, Any]:
    body = {"api_name": api, "token": TOKEN, "params": params, "fields": fields}
    reply = service.handle(orjson.dumps(body))
    assert reply.status == 200
    return orjson.loads(reply.body)  # type: ignore[no-any-return]


def test_sdk_pro_bar_reads_minute_bars_through_neo_serve(world: World) -> None:
    """Issue 23, item 6: `ts.pro_bar(freq='1min'|'5min', adj=None|'qfq'|'hfq')` against `neo serve`
    returns what it returns against the simulator the lake was downloaded from."""
    ts = pytest.importorskip("tushare")
    import pandas as pd

    with running(world.settings) as server:
        lake = ts.pro_api(TOKEN)
        lake._DataApi__http_url = f"{server.url}/dataapi"  # tushare 1.4.29 posts to {this}/{api_name}
        sim = ts.pro_api(TOKEN)
        sim._DataApi__http_url = f"{world.server.url}/dataapi"
        for code in world.codes:
            raw: dict[str | None, pd.Series] = {}
            for freq in ("1min", "5min"):
                for adj in (None, "qfq", "hfq"):
                    bars = {
                        name: ts.pro_bar(ts_code=code, freq=freq, adj=adj, api=api, **WINDOW)
                        for name, api in (("lake", lake), ("sim", sim))
                    }
                    assert bars["sim"] is not None and len(bars["sim"]) > 0, (code, freq, adj)
                    pd.testing.assert_frame_equal(bars["lake"], bars["sim"])
                    assert freq != "1min" or len(bars["lake"]) == 8000  # the row cap: the newest bars
                    if freq == "5min":  # the whole window: the ex-date moves qfq and hfq off raw prices
                        raw[adj] = bars["lake"]["close"]
            assert (raw["qfq"] != raw[None].round(2)).any() and (raw["hfq"] != raw[None]).any()
        asked = {
            "ts_code": INDEX,
            "freq": "1min",
            "start_date": "2023-07-05 10:00:00",
            "end_date": "20230710",
        }
        pd.testing.assert_frame_equal(lake.idx_mins(**asked), sim.idx_mins(**asked))


def test_pro_api_in_process_answers_minute_bars(world: World) -> None:
    ts = pytest.importorskip("tushare")
    import pandas as pd

    pro = neo.pro_api(world.settings)
    try:
        asked = {"ts_code": world.codes[0], "freq": "5min", **WINDOW}
        want = call(world.sim, "stk_mins", asked)["data"]
        pd.testing.assert_frame_equal(
            pro.stk_mins(**asked), pd.DataFrame(want["items"], columns=want["fields"])
        )
        sdk = ts.pro_api(TOKEN)
        sdk._DataApi__http_url = f"{world.server.url}/dataapi"
        kw = {"ts_code": world.codes[1], "freq": "5min", "adj": "qfq", **WINDOW}
        pd.testing.assert_frame_equal(ts.pro_bar(api=pro, **kw), ts.pro_bar(api=sdk, **kw))
        with pytest.raises(Exception, match="neo download stk_mins_15min"):
            pro.stk_mins(ts_code=world.codes[0], freq="15min", **WINDOW)
    finally:
        pro.close()


def bars(code: str, freq: str, lo: str, hi: str, **more: Any) -> dict[str, Any]:
    return {"ts_code": code, "freq": freq, "start_date": lo, "end_date": hi, **more}


def cases(world: World) -> list[tuple[str, dict[str, Any], str]]:
    """(api, params, fields): windows cut inside days, bare and compact dates, the cap and pages."""
    a, b = world.codes
    whole = WINDOW["start_date"], WINDOW["end_date"]
    return [
        ("stk_mins", bars(a, "1min", *whole), ""),  # the cap: the newest 8,000 bars
        ("stk_mins", bars(a, "1min", *whole, offset=8000), ""),  # the rest
        ("stk_mins", bars(a, "1min", *whole, offset=7990, limit=25), ""),
        ("stk_mins", bars(a, "1min", "2023-06-09 10:00:00", "2023-06-12 10:30:00"), ""),
        # A bare end date leaves its day out; 'YYYYMMDD' reads as 'YYYY-MM-DD'.
        ("stk_mins", bars(b, "5min", "2023-06-12", "2023-06-16"), ""),
        ("stk_mins", bars(b, "5min", "20230612", "20230616"), ""),
        # Bounds after a day's close and before its open select no bar of that day; the lunch break.
        ("stk_mins", bars(a, "5min", "2023-06-09 15:00:01", "2023-06-14 09:29:59"), ""),
        ("stk_mins", bars(a, "5min", "2023-06-14 11:30:00", "2023-06-14 13:05:00"), ""),
        (
            "stk_mins",
            bars(a, "5min", "2023-07-20 13:00:00", "2023-07-31 23:59:59"),
            "trade_time,close,ts_code",
        ),
        # Params other than the code, freq and window select nothing, even naming a column.
        ("stk_mins", bars(b, "5min", "2023-07-03", "2023-07-05", trade_time="x", open=1), ""),
        ("idx_mins", bars(INDEX, "1min", "2023-07-27 14:00:00", "2023-07-28 09:31:00"), ""),
        # pro_bar's adjustment factors: the minute bounds read as days.
        ("adj_factor", {"ts_code": a, **WINDOW}, ""),
        (
            "adj_factor",
            {"ts_code": b, "start_date": "2023-06-30 09:00:00", "end_date": "2023-07-04 15:00:00"},
            "",
        ),
    ]


def test_minute_replies_equal_the_simulators(world: World) -> None:
    """Same fields, rows, order and has_more, for the lake read from Parquet every time too."""
    parquet = LakeService(world.settings, cache_mb=0, months_mb=0)
    try:
        for api, params, fields in cases(world):
            want = call(world.sim, api, params, fields)
            assert want["code"] == 0 and want["data"]["items"], (api, params)
            for service in (world.lake, parquet):
                got = call(service, api, params, fields)
                assert got["code"] == 0, got["msg"]
                assert got["data"] == want["data"], (api, params)
    finally:
        parquet.close()


def test_what_the_lake_lacks_is_refused_and_bad_requests_answered_as_the_simulator(world: World) -> None:
    a = world.codes[0]
    lacking = [
        (
            {"ts_code": a, "freq": "15min", **WINDOW},
            f"neo download stk_mins_15min --codes {a} --start 20230601",
        ),
        ({"ts_code": "000001.SH", "freq": "1min", **WINDOW}, "neo download stk_mins --codes 000001.SH"),
        # A window reaching back before the download by one bar, the close of the day before.
        (bars(a, "1min", "2023-05-31 15:00:00", "2023-06-02"), "20230531"),
    ]
    for params, says in lacking:
        reply = call(world.lake, "stk_mins", params)
        assert reply["code"] == INCOMPLETE and says in reply["msg"], reply["msg"]
    # ...but from the bar after that day's close it holds everything.
    after = bars(a, "1min", "2023-05-31 15:00:01", "2023-06-02")
    assert call(world.lake, "stk_mins", after)["data"] == call(world.sim, "stk_mins", after)["data"]
    two = f"{a},{world.codes[1]}"
    choice = MSG_CHOICE.format(param="freq", allowed=", ".join(MINUTE_FREQS), value="1MIN")
    bad = [
        ({"ts_code": two, "freq": "1min", **WINDOW}, (-1000, MSG_ONE_CODE.format(value=two))),
        ({"ts_code": a, "freq": "1MIN"}, (-1000, choice)),
        ({"ts_code": a}, (40101, "freq required")),
        ({"freq": "1min"}, (40101, "ts_code required")),
    ]
    for params, expected in bad:
        for service in (world.sim, world.lake):
            reply = call(service, "stk_mins", params)
            assert (reply["code"], reply["msg"]) == expected


def test_without_dates_the_last_ten_days_up_to_today(world: World) -> None:
    """The simulator's today is its market's last day; a lake served on that day answers alike."""
    on_the_day = LakeService(world.settings, now=lambda: datetime(2023, 7, 31, 22, 0))
    try:
        for api, code in (("stk_mins", world.codes[1]), ("idx_mins", INDEX)):
            params = {"ts_code": code, "freq": "1min"}
            got, want = call(on_the_day, api, params), call(world.sim, api, params)
            assert got["code"] == 0 and got["data"] == want["data"] and want["data"]["items"]
            assert want["data"]["items"][-1][1] >= "2023-07-22"
    finally:
        on_the_day.close()
