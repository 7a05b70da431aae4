"""The simulator answers hand-written JSON POSTs exactly as NOTES.md describes the real service."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from neo.sim.server import MSG_API, MSG_MINUTE, MSG_PERMISSION, MSG_TOKEN, SimHTTPServer
from tests.conftest import wait_until

Post = Callable[..., dict[str, Any]]


def post(url: str, body: Any, path: str = "") -> dict[str, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200
        return json.loads(resp.read())


@pytest.fixture
def server(sim: Callable[..., SimHTTPServer]) -> SimHTTPServer:
    return sim(caps={"daily": 7})


def call(
    server: SimHTTPServer, api: str, params: dict | None = None, fields: Any = "", path: str = ""
) -> dict:
    return post(server.url, {"api_name": api, "token": "x", "params": params or {}, "fields": fields}, path)


def test_envelope_on_every_path(server: SimHTTPServer) -> None:
    for path in ("", "/", "/dataapi", "/dataapi/trade_cal"):
        reply = call(server, "trade_cal", {"start_date": "20240101", "end_date": "20240110"}, path=path)
        assert set(reply) == {"request_id", "code", "msg", "data"}
        assert reply["code"] == 0 and reply["msg"] == ""
        assert set(reply["data"]) == {"fields", "items", "has_more", "count"}
        assert reply["data"]["fields"] == ["exchange", "cal_date", "is_open", "pretrade_date"]
        assert len(reply["data"]["items"]) == 10
    # The API name may come from the path alone, as older SDKs sent it.
    reply = post(server.url, {"token": "x", "params": {"trade_date": "20240102"}}, "/dataapi/daily")
    assert reply["code"] == 0 and reply["data"]["fields"][:2] == ["ts_code", "trade_date"]


def test_fields_default_set_versus_named(server: SimHTTPServer) -> None:
    default = call(server, "stock_basic")["data"]["fields"]
    assert "list_status" not in default and "delist_date" not in default and "ts_code" in default
    named = call(server, "stock_basic", fields="ts_code,list_status,delist_date")["data"]
    assert named["fields"] == ["ts_code", "list_status", "delist_date"]
    as_list = call(server, "stock_basic", fields=["ts_code", "name"])["data"]
    assert as_list["fields"] == ["ts_code", "name"]
    bad = call(server, "trade_cal", fields="exchange_id")
    assert (bad["code"], bad["msg"], bad["data"]) == (-2001, "接口trade_cal不包含字段exchange_id", None)


def test_null_and_unknown_params_are_ignored(server: SimHTTPServer) -> None:
    plain = call(server, "daily", {"trade_date": "20240102"})
    noisy = call(
        server,
        "daily",
        {"trade_date": "20240102", "limit": None, "offset": None, "ts_type_name": "x", "nonsense": 1},
    )
    assert plain["data"]["items"] == noisy["data"]["items"]


def test_errors_use_the_real_codes_and_messages(sim: Callable[..., SimHTTPServer]) -> None:
    s = sim(token="only-this", deny=frozenset({"income_vip"}), quota=2, quota_window=60)
    bad_token = post(s.url, {"api_name": "daily", "token": "wrong", "params": {}})
    assert (bad_token["code"], bad_token["msg"], bad_token["data"]) == (40101, MSG_TOKEN, None)
    assert post(s.url, {"api_name": "daily", "token": "", "params": {}})["code"] == 40101
    unknown = post(s.url, {"api_name": "dialy", "token": "only-this", "params": {}})
    assert (unknown["code"], unknown["msg"]) == (40101, MSG_API)
    denied = post(s.url, {"api_name": "income_vip", "token": "only-this", "params": {"period": "20231231"}})
    assert (denied["code"], denied["msg"]) == (40203, MSG_PERMISSION)
    ok = [
        post(s.url, {"api_name": "trade_cal", "token": "only-this", "params": {}})["code"] for _ in range(2)
    ]
    over = post(s.url, {"api_name": "trade_cal", "token": "only-this", "params": {}})
    assert ok == [0, 0] and (over["code"], over["msg"]) == (40203, MSG_MINUTE.format(n=2))
    # The quota is per API: another API still answers.
    assert post(s.url, {"api_name": "daily", "token": "only-this", "params": {}})["code"] == 0
    assert post(s.url, b"{not json")["code"] == -1000
    assert post(s.url, {"api_name": "daily", "token": "only-this", "params": [1]})["code"] == -1000


def test_row_cap_truncates_and_limit_offset_pages(server: SimHTTPServer) -> None:
    full = call(server, "daily", {"trade_date": "20240102"})["data"]
    assert len(full["items"]) == 7 and full["has_more"] is True
    pages, offset = [], 0
    while True:
        page = call(server, "daily", {"trade_date": "20240102", "limit": 7, "offset": offset})["data"][
            "items"
        ]
        pages.extend(page)
        offset += len(page)
        if len(page) < 7:
            break
    assert pages[:7] == full["items"] and len(pages) > 7
    codes = [r[0] for r in pages]
    assert len(set(codes)) == len(codes)  # no row twice across pages
    assert call(server, "daily", {"trade_date": "20240102", "limit": 3})["data"]["items"] == pages[:3]


def test_answers_come_newest_first(server: SimHTTPServer) -> None:
    items = call(
        server,
        "adj_factor",
        {"start_date": "20240101", "end_date": "20240131", "limit": 5000},
        fields="trade_date,ts_code",
    )["data"]["items"]
    dates = [r[0] for r in items]
    assert dates == sorted(dates, reverse=True) and len(set(dates)) > 15


def test_same_seed_same_data_in_any_order_and_concurrently(sim: Callable[..., SimHTTPServer]) -> None:
    a, b = sim(seed=5), sim(seed=5)
    requests = [("daily", {"trade_date": d}) for d in ("20240105", "20240301", "20240628")] + [
        ("income_vip", {"period": "20231231"}),
        ("stock_basic", {"list_status": "D"}),
        ("weekly", {}),
    ]
    expected = [call(a, api, p)["data"]["items"] for api, p in requests]
    results: dict[int, list] = {}

    def worker(i: int) -> None:
        api, p = requests[i % len(requests)]
        results[i] = call(b, api, p)["data"]["items"]

    threads = [threading.Thread(target=worker, args=(i,)) for i in reversed(range(24))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(results[i] == expected[i % len(requests)] for i in range(24))
    assert call(sim(seed=6), "daily", {"trade_date": "20240105"})["data"]["items"] != expected[0]


def test_revisions_change_a_fraction_of_rows_on_later_serves(sim: Callable[..., SimHTTPServer]) -> None:
    s = sim(revise_rate=0.3)
    first = call(s, "daily", {"trade_date": "20240105"})["data"]["items"]
    second = call(s, "daily", {"trade_date": "20240105"})["data"]["items"]
    changed = [i for i, (x, y) in enumerate(zip(first, second, strict=True)) if x != y]
    assert 0 < len(changed) < len(first)
    assert all(first[i][:2] == second[i][:2] for i in range(len(first)))  # keys never change
    third = call(s, "daily", {"trade_date": "20240105"})["data"]["items"]
    assert all(third[i] != first[i] for i in changed)  # a revised row stays revised


def test_stats_endpoint(server: SimHTTPServer) -> None:
    call(server, "daily", {"trade_date": "20240102"})
    with urllib.request.urlopen(server.url + "/_sim/stats", timeout=5) as resp:
        stats = json.loads(resp.read())
    assert stats["calls_daily"] >= 1 and stats["rows"] >= 7


def test_held_requests_wait_until_released_or_shutdown(server: SimHTTPServer) -> None:
    """The hook tests use to stop a client at a known state (see Simulator.hold)."""
    params = {"start_date": "20240101", "end_date": "20240105"}
    server.sim.hold(after=1)
    assert call(server, "trade_cal", params)["code"] == 0  # the one call answered before holding
    replies: list[dict] = []

    def in_background() -> threading.Thread:
        thread = threading.Thread(target=lambda: replies.append(call(server, "trade_cal", params)))
        thread.start()
        return thread

    waiting = in_background()
    wait_until(lambda: server.sim.held() == (1, 1), 30, "the second call to be held")
    assert waiting.is_alive() and not replies
    server.sim.release()
    waiting.join(timeout=30)
    assert [r["code"] for r in replies] == [0]
    server.sim.hold()
    at_shutdown = in_background()
    wait_until(lambda: server.sim.held() == (0, 1), 30, "a call to be held")
    server.shutdown()  # answers what it holds: no thread is left waiting
    at_shutdown.join(timeout=30)
    assert [r["code"] for r in replies] == [0, 0] and server.sim.held() == (0, 0)
