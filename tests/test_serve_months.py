"""`neo serve`'s months in memory (`neo.protocol.months`) follow the lake: a download, a download of
revised values, a compaction and a vacuum are seen by the next request, which answers byte for byte
as reading Parquet does; memory stays within its bound; threads share the months safely."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any

import orjson
import pytest

from neo.core.config import Settings
from neo.datasets import spec_for_api
from neo.lake.compact import compact
from neo.lake.vacuum import vacuum
from neo.pipeline import runner
from neo.pipeline.container import AppContainer
from neo.protocol.serve import INCOMPLETE, LakeService
from neo.sim.server import SimConfig
from neo.sim.server import running as sim_running
from tests.conftest import TOKEN, client_settings

# Values change each time a day is served again: a refetch brings revised rows.
MARKET = SimConfig(stocks=12, start=date(2023, 12, 1), end=date(2024, 3, 29), seed=5, revise_rate=0.5)
# Never compacted on its own: the test compacts when it wants fresh files gone.
FAST = {"history_start": "20240102", "task_retry_delay": 0.05, "sync_minutes": 0, "compact_after_files": 0}


def call(service: LakeService, params: dict[str, Any]) -> dict[str, Any]:
    body = {"api_name": "daily", "token": TOKEN, "params": params, "fields": ""}
    return orjson.loads(service.handle(orjson.dumps(body)).body)  # type: ignore[no-any-return]


def same(held: LakeService, parquet: LakeService, params: dict[str, Any]) -> dict[str, Any]:
    """The reply from memory and from Parquet, equal but for the request id; its data."""
    got, want = call(held, params), call(parquet, params)
    assert got["code"] == 0, got["msg"]
    assert {**got, "request_id": ""} == {**want, "request_id": ""}, params
    return got["data"]  # type: ignore[no-any-return]


@pytest.fixture
def lake(tmp_path: Any) -> Iterator[tuple[Settings, Any]]:
    with sim_running(MARKET) as server:
        settings = client_settings(server, tmp_path, **FAST)
        with AppContainer(settings) as app:
            runner.download(app, ["trade_cal", "daily"], end=date(2024, 2, 9))
            yield settings, app


def test_the_lake_changing_under_a_running_server(lake: tuple[Settings, Any]) -> None:
    settings, app = lake
    spec = spec_for_api("daily")
    assert spec is not None
    held = LakeService(settings)  # months in memory and the reply cache, as `neo serve` runs
    parquet = LakeService(settings, cache_mb=0, months_mb=0)
    try:
        before = same(held, parquet, {"trade_date": "20240205"})
        assert before["items"] and held.months.size > 0
        # Some rows of a day already rendered whole, not next to each other; a day not rendered yet.
        stocks = ",".join(row[0] for row in before["items"][::3])
        assert len(same(held, parquet, {"trade_date": "20240205", "ts_code": stocks})["items"]) > 2
        assert same(held, parquet, {"trade_date": "20240206", "ts_code": stocks})["items"]
        assert call(held, {"trade_date": "20240220"})["code"] == INCOMPLETE
        # Later days of the month the server holds in memory: a new file in its partition.
        assert runner.download(app, ["daily"], end=date(2024, 2, 29)).failed == 0
        assert same(held, parquet, {"trade_date": "20240220"})["items"]
        # A day downloaded again, revised at the source: the newest download wins.
        summary = runner.download(app, ["daily"], start=date(2024, 2, 5), end=date(2024, 2, 5), refetch=True)
        assert summary.failed == 0
        revised = same(held, parquet, {"trade_date": "20240205"})
        assert revised["items"] != before["items"]
        # Compaction replaces the fresh files by compacted ones, vacuum deletes the fresh ones.
        assert compact(settings, [spec])[0].partitions
        assert same(held, parquet, {"trade_date": "20240205"}) == revised
        vacuum(settings, timedelta(0), [spec])
        assert same(held, parquet, {"trade_date": "20240205"}) == revised
        assert same(held, parquet, {"start_date": "20240115", "end_date": "20240220"})["items"]
    finally:
        held.close()
        parquet.close()


def test_months_stay_within_their_memory_and_share_between_threads(lake: tuple[Settings, Any]) -> None:
    settings, _ = lake
    held = LakeService(settings, cache_mb=0)
    parquet = LakeService(settings, cache_mb=0, months_mb=0)
    try:
        sizes = []
        for day in ("20240105", "20240206"):  # a month with one day rendered, alone
            alone = LakeService(settings, cache_mb=0)
            same(alone, parquet, {"trade_date": day})
            sizes.append(alone.months.size)
            alone.close()
        held.months.limit = max(sizes) + min(sizes) // 2  # room for either month, not for both
        for day in ("20240105", "20240206", "20240108", "20240207", "20240109"):
            same(held, parquet, {"trade_date": day})
            assert 0 < held.months.size <= held.months.limit
            assert len(held.months._entries) == 1
        # Paging a range over both months: a page past February's rows does not read it again.
        reads: list[Any] = []
        read = held.months._read
        held.months._read = lambda spec, query, ym, stamp: reads.append(ym) or read(spec, query, ym, stamp)
        both = {"start_date": "20240102", "end_date": "20240209"}
        rows = len(call(parquet, both)["data"]["items"])
        february = len(call(parquet, {"start_date": "20240201", "end_date": "20240209"})["data"]["items"])
        for offset in range(0, rows + 10, 25):
            reads.clear()
            same(held, parquet, {**both, "offset": offset, "limit": 25})
            assert offset < february or (2024, 2) not in reads
        held.months.limit = 1 << 30
        days = [f"2024{m:02d}{d:02d}" for m in (1, 2) for d in range(2, 10)]
        want = {d: call(parquet, {"trade_date": d}) for d in days}
        with ThreadPoolExecutor(4) as pool:
            got = list(pool.map(lambda d: call(held, {"trade_date": d}), days * 3))
        for day, reply in zip(days * 3, got, strict=True):
            assert {**reply, "request_id": ""} == {**want[day], "request_id": ""}
    finally:
        held.close()
        parquet.close()
