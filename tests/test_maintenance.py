"""Maintenance that runs by itself when it pays: at the end of `neo download` and at the maint
queue's syncs, once a partition holds more than `compact_after_files` fresh files."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from neo.core.config import Settings
from neo.datasets import get
from neo.lake import manifest
from neo.lake.catalog import open_lake
from neo.lake.maintenance import due
from neo.pipeline import runner
from neo.pipeline.container import AppContainer
from neo.pipeline.queues import QueuedPipeline
from neo.sim.server import SimHTTPServer
from tests.conftest import client_settings

Sim = Callable[..., SimHTTPServer]
END = date(2024, 2, 29)
DATASETS = ["daily", "adj_factor"]


def settings_for(server: SimHTTPServer, home: Path, **extra: Any) -> Settings:
    return client_settings(server, home, history_start="20240101", sync_minutes=0, **extra)


def fresh_per_partition(settings: Settings, name: str) -> dict[str, int]:
    spec = get(name)
    state = manifest.read(settings.lake_dir, spec).state
    files = manifest.fresh_files(settings.lake_dir, spec, range(state.fresh_from, state.generation + 1))
    out: dict[str, int] = {}
    for f in files:
        out[f.parent.name] = out.get(f.parent.name, 0) + 1
    return out


def rows(settings: Settings) -> dict[str, list[tuple]]:
    con = open_lake(settings)
    try:
        return {n: con.sql(f"SELECT * FROM {n} ORDER BY ALL").fetchall() for n in DATASETS}
    finally:
        con.close()


def test_a_download_that_leaves_many_files_compacts_them_at_its_end(sim: Sim, tmp_path: Path) -> None:
    server = sim(end=END)
    plain = settings_for(server, tmp_path / "plain", compact_after_files=0)
    with AppContainer(plain) as c:
        summary = runner.download(c, datasets=DATASETS, end=END)
    assert summary.compacted == [] and fresh_per_partition(plain, "daily") == {"year=2024": 37}

    settings = settings_for(server, tmp_path / "auto", compact_after_files=5)
    with AppContainer(settings) as c:
        summary = runner.download(c, datasets=DATASETS, end=END)
    assert sorted(r.dataset for r in summary.compacted) == sorted(DATASETS)
    for name in DATASETS:
        assert fresh_per_partition(settings, name) == {}  # merged into compacted files...
        assert manifest.read(settings.lake_dir, get(name)).state.compacted
    assert rows(settings) == rows(plain)  # ...holding the same rows the views showed before
    assert due(settings) == []


def test_a_few_new_files_wait_and_more_than_the_limit_compact(sim: Sim, tmp_path: Path) -> None:
    server = sim(end=END)
    settings = settings_for(server, tmp_path, compact_after_files=5)
    days = [date(2024, 1, d) for d in (2, 3, 4, 5, 8, 9, 10)]
    with AppContainer(settings) as c:
        for n, day in enumerate(days, start=1):  # a daily user: one more day per run
            summary = runner.download(c, datasets=["daily"], end=day)
            assert bool(summary.compacted) == (n == 6), n  # the 6th file is one more than 5
        assert fresh_per_partition(settings, "daily") == {"year=2024": 1}


def test_the_maint_queue_compacts_at_its_sync_when_it_pays(sim: Sim, tmp_path: Path) -> None:
    server = sim(end=END)
    settings = settings_for(server, tmp_path, compact_after_files=5)
    with AppContainer(settings_for(server, tmp_path, compact_after_files=0)) as c:
        runner.download(c, datasets=["daily"], end=END)
    assert [s.name for s in due(settings)] == ["daily"]
    with AppContainer(settings) as c:
        QueuedPipeline(c)._sync()  # the body of the sync task, periodic or queued by `neo dl`
    assert due(settings) == [] and fresh_per_partition(settings, "daily") == {}


def test_a_download_that_pulls_rows_again_compacts_them_so_the_view_reads_plain_files(
    sim: Sim, tmp_path: Path
) -> None:
    server = sim(end=END)
    settings = settings_for(server, tmp_path, compact_after_files=5)
    day = date(2024, 1, 10)
    with AppContainer(settings) as c:
        runner.download(c, datasets=["daily"], end=day)  # 7 days: compacted at its end
        runner.download(c, datasets=["daily"], end=date(2024, 1, 12))  # two more: they wait
        assert fresh_per_partition(settings, "daily") == {"year=2024": 2}
        before = rows(settings)["daily"]
        summary = runner.download(c, datasets=["daily"], start=day, end=day, refetch=True)
    assert [r.dataset for r in summary.compacted] == ["daily"]  # one re-pulled day is enough
    assert not manifest.live(settings.lake_dir, get("daily")).contested()  # no window left
    assert rows(settings)["daily"] == before and due(settings) == []
