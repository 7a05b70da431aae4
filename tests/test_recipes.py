"""docs/recipes.md works: every Python block runs, in order, against a lake downloaded from the
simulator, with `neo serve` listening where the page says (its asserts are the checks)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from neo.core.config import Settings
from neo.lake.catalog import open_lake
from neo.pipeline import runner
from neo.pipeline.container import AppContainer
from neo.protocol.serve import running
from neo.sim.server import SimConfig
from neo.sim.server import running as sim_running
from tests.conftest import ROOT, client_settings

PAGE = ROOT / "docs" / "recipes.md"
END = date(2024, 6, 28)
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Every dataset from 2023 to June 2024 of a small market that starts a year earlier."""
    market = SimConfig(stocks=80, start=date(2022, 1, 1), end=END, seed=3)
    with sim_running(market) as server:
        settings = client_settings(
            server, tmp_path_factory.mktemp("recipes"), history_start="20230101", sync_minutes=0, retries=12
        )
        with AppContainer(settings) as container:
            assert runner.download(container, end=END).failed == 0
        yield settings


def test_every_recipe_runs(lake: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = BLOCK.findall(PAGE.read_text(encoding="utf-8"))
    assert len(blocks) == 4
    code = _a_stock_of_the_index(lake)  # the simulated market has no 600000.SH
    monkeypatch.setenv("NEO_HOME", str(lake.home))
    with running(lake) as server:
        namespace: dict[str, object] = {}
        for block in blocks:
            source = block.replace("600000.SH", code).replace("http://127.0.0.1:7200", server.url)
            exec(compile(source, str(PAGE), "exec"), namespace)


def _a_stock_of_the_index(settings: Settings) -> str:
    con = open_lake(settings)
    try:
        return con.sql(
            "SELECT ts_code FROM daily WHERE trade_date = DATE '2024-03-29' ORDER BY ts_code LIMIT 1"
        ).fetchall()[0][0]
    finally:
        con.close()


def test_the_page_is_linked_from_the_readme_and_the_guide() -> None:
    for doc in (ROOT / "README.md", ROOT / "docs" / "guide.md"):
        assert "recipes.md" in doc.read_text(encoding="utf-8"), doc
    assert Path(PAGE).exists()
