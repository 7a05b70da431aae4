"""A strategy is the one source of how a dataset is covered: planning, `neo status`, `neo verify`,
`neo report` and `neo serve`'s coverage check all ask it, none keeps a rule of its own. A strategy
planted in the registry is used by each of them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

import neo.strategies as registry
from neo.datasets import DATASETS, Strategy
from neo.pipeline import runner
from neo.pipeline.container import AppContainer
from neo.pipeline.planner import Planner
from neo.protocol.core import Query
from neo.protocol.serve import LakeService
from neo.report import gather
from neo.report.status import status
from neo.report.verify import check_lake
from neo.sim.server import SimHTTPServer
from neo.strategies import DownloadStrategy, strategies
from neo.strategies.calendar_days import CalendarDays
from tests.conftest import client_settings

END = date(2024, 1, 31)


class Planted(CalendarDays):
    """The calendar strategy, counting who asks it what."""

    def __init__(self) -> None:
        super().__init__("all")
        self.asked: Counter[str] = Counter()

    def plan(self, ctx, spec, start, end, codes):  # type: ignore[no-untyped-def]
        self.asked["plan"] += 1
        return super().plan(ctx, spec, start, end, codes)

    def coverage(self, ctx, spec, calendar):  # type: ignore[no-untyped-def]
        self.asked["coverage"] += 1
        return super().coverage(ctx, spec, calendar)

    def gap(self, ctx, spec, scope):  # type: ignore[no-untyped-def]
        self.asked["gap"] += 1
        return super().gap(ctx, spec, scope)


def test_every_strategy_answers_for_planning_gaps_and_requests() -> None:
    for name, strategy in strategies().items():
        for method in ("plan", "coverage", "gap"):
            mine = getattr(type(strategy), method)
            assert mine is not getattr(DownloadStrategy, method) or method == "coverage", (name, method)
    assert set(strategies()) == set(Strategy)

    class Forgetful(DownloadStrategy):  # no gap: neo serve could not check a request against it
        def plan(self, ctx, spec, start, end, codes):  # type: ignore[no-untyped-def]
            return []

    with pytest.raises(TypeError, match="gap"):
        Forgetful()  # type: ignore[abstract]


def test_a_planted_strategy_is_asked_by_every_consumer(
    sim: Callable[..., SimHTTPServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    planted = Planted()
    monkeypatch.setitem(registry._STRATEGIES, Strategy.TRADE_DATE, planted)
    settings = client_settings(sim(stocks=5, end=END), tmp_path, history_start="20240101", sync_minutes=0)
    daily = DATASETS["daily"]

    with AppContainer(settings) as c:
        assert runner.download(c, ["trade_cal", "daily"], end=END).failed == 0
        assert planted.asked["plan"] >= 1
        assert Planner(settings, c.ledger).plan(["daily"], end=END) == []  # and it plans nothing more
    seen = planted.asked.copy()

    status(settings)
    assert planted.asked["coverage"] > seen["coverage"], "neo status"
    seen = planted.asked.copy()
    check_lake(settings, ["daily"])
    assert planted.asked["coverage"] > seen["coverage"], "neo verify"
    seen = planted.asked.copy()
    gather(settings)
    assert planted.asked["coverage"] > seen["coverage"], "neo report"

    service = LakeService(settings)
    try:
        query = Query.build("daily", {"trade_date": "20240105"}, daily.field_names, service.cap("daily"))
        assert service.page(query).items
    finally:
        service.close()
    assert planted.asked["gap"] == 1, "neo serve"
    assert daily.strategy is Strategy.TRADE_DATE
