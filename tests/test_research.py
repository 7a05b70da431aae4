"""The research datasets end to end: each downloads from the simulator through its strategy, shows
in `neo status`, reads through its view with the declared types and one row per key, and its
strategy refills what the lake lost."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from neo.core.config import Settings
from neo.datasets import DATASETS, Strategy, get
from neo.lake.catalog import open_lake
from neo.lake.layout import is_placeholder
from neo.pipeline import runner
from neo.pipeline.container import AppContainer
from neo.pipeline.planner import Planner
from neo.report.status import status
from neo.sim.server import SimHTTPServer
from neo.strategies.code_windows import windows
from tests.conftest import client_settings

Sim = Callable[..., SimHTTPServer]
END = date(2024, 3, 31)
RESEARCH = (
    "index_basic",
    "index_daily",
    "index_weight",
    "index_classify",
    "index_member_all",
    "suspend_d",
    "stk_limit",
    "moneyflow",
    "namechange",
    "dividend",
    "disclosure_date",
    "forecast",
    "express",
)
FAST = {"history_start": "20230101", "task_retry_delay": 0.05, "sync_minutes": 0, "retries": 12}


def settings_for(server: SimHTTPServer, home: Path, **extra: Any) -> Settings:
    return client_settings(server, home, **{**FAST, **extra})


def download(settings: Settings, datasets: list[str] | None = None) -> runner.Summary:
    with AppContainer(settings) as container:
        return runner.download(container, datasets=datasets, end=END)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, SimHTTPServer]:
    """A lake of every dataset from 2023 to March 2024, downloaded once."""
    from neo.sim.server import SimConfig, running

    # The market starts a year before the download: forecasts and express reports need last year.
    with running(SimConfig(stocks=60, start=date(2022, 1, 1), end=END, seed=5)) as server:
        settings = settings_for(server, tmp_path_factory.mktemp("research"), compact_after_files=0)
        summary = download(settings)
        assert summary.failed == 0
        yield settings, server


def test_neo_knows_at_least_24_datasets() -> None:
    assert len(DATASETS) >= 24 and set(RESEARCH) <= set(DATASETS)


@pytest.mark.parametrize("name", RESEARCH)
def test_each_research_dataset_reads_typed_with_one_row_per_key(lake: tuple, name: str) -> None:
    settings, _ = lake
    spec = get(name)
    con = open_lake(settings)
    try:
        view = con.sql(f"SELECT * FROM {name}")
        rows = con.sql(f"SELECT count(*) FROM {name}").fetchall()[0][0]
        keys = con.sql(
            f"SELECT count(*) FROM (SELECT DISTINCT {', '.join(spec.key)} FROM {name})"
        ).fetchall()[0][0]
        typed = view.limit(0).to_arrow_table().schema
    finally:
        con.close()
    assert rows > 0, f"{name}: the view is empty"
    assert rows == keys, f"{name}: {rows} rows but {keys} keys"
    declared = pa.schema([typed.field(f.name) for f in spec.fields])
    assert declared.equals(spec.schema), f"{name}: view types differ from the spec"


def test_status_lists_every_research_dataset_with_no_gaps(lake: tuple) -> None:
    settings, _ = lake
    result = status(settings)
    datasets, failed = result.datasets, result.failed
    by_name = {d.dataset: d for d in datasets}
    assert not failed
    for name in RESEARCH:
        assert by_name[name].rows > 0 and by_name[name].missing == [], (name, by_name[name].missing[:5])


def test_a_rerun_plans_nothing(lake: tuple) -> None:
    settings, _server = lake
    with AppContainer(settings) as container:
        assert Planner(settings, container.ledger).plan(end=END) == []


def test_statement_versions_without_f_ann_date_are_kept_and_known_from_their_ann_date(lake: tuple) -> None:
    """f_ann_date is part of the statements' key and the simulator leaves it empty in a few
    versions, as Tushare does in older rows: every such row the source sent is in `income`, and in
    `income_asof` and `fundamentals_asof` from its ann_date (known_from = coalesce(f_ann_date,
    ann_date)). They used to be dropped at download with a warning."""
    settings, server = lake
    sent: list[dict[str, Any]] = []
    for period in ("20230331", "20230630", "20230930", "20231231"):
        names, items = server.sim.expected("income_vip", {"period": period})
        sent += [dict(zip(names, r, strict=True)) for r in items if r[names.index("f_ann_date")] is None]
    assert len(sent) >= 3
    con = open_lake(settings)
    try:
        held = con.sql(
            "SELECT ts_code, strftime(end_date, '%Y%m%d'), report_type, strftime(ann_date, '%Y%m%d'), "
            "n_income_attr_p FROM income WHERE f_ann_date IS NULL"
        ).fetchall()
        assert sorted(held) == sorted(
            (r["ts_code"], r["end_date"], r["report_type"], r["ann_date"], r["n_income_attr_p"]) for r in sent
        )
        fundamentals = 0
        for r in sent:
            known = f"strptime('{r['ann_date']}', '%Y%m%d')::DATE"
            key = f"ts_code = '{r['ts_code']}' AND end_date = strptime('{r['end_date']}', '%Y%m%d')::DATE"
            asof = con.sql(
                f"SELECT f_ann_date, known_from = {known}, n_income_attr_p FROM income_asof({known}) "
                f"WHERE {key} AND report_type = '{r['report_type']}'"
            ).fetchall()
            assert asof == [(None, True, r["n_income_attr_p"])], (r, asof)
            if r["report_type"] == "1":
                row = con.sql(
                    f"SELECT n_income_attr_p FROM fundamentals_asof({known}) WHERE {key}"
                ).fetchall()
                fundamentals += row == [(r["n_income_attr_p"],)]
        assert fundamentals > 0  # the stock's latest report at that date: its figures are the ones sent
    finally:
        con.close()


def test_a_lost_index_window_and_a_lost_stock_history_are_planned_again(sim: Sim, tmp_path: Path) -> None:
    server = sim(stocks=40, start=date(2023, 1, 1), end=END, seed=3)
    settings = settings_for(server, tmp_path, compact_after_files=0)
    assert download(settings, ["index_daily", "dividend"]).failed == 0
    con = open_lake(settings)
    try:
        code = con.sql("SELECT ts_code FROM dividend LIMIT 1").fetchall()[0][0]
    finally:
        con.close()
    index_files = sorted(
        f
        for f in (settings.lake_dir / "index_daily" / "year=2023").glob("*.parquet")
        if not is_placeholder(f)
    )
    lost_index = _file_code(index_files[0])
    index_files[0].unlink()
    for f in (settings.lake_dir / "dividend").glob("*.parquet"):
        if not is_placeholder(f) and _file_code(f) == code:
            f.unlink()
    with AppContainer(settings) as container:
        planned = Planner(settings, container.ledger).plan(["index_daily", "dividend"], end=END)
    assert sorted((r.dataset, tuple(sorted(r.params.items()))) for r in planned) == sorted(
        [
            ("dividend", (("ts_code", code),)),
            ("index_daily", (("end_date", "20231231"), ("start_date", "20230101"), ("ts_code", lost_index))),
        ]
    )


def _file_code(path: Path) -> str | None:
    import pyarrow.parquet as pq

    codes = pq.read_table(path, columns=["ts_code"]).column(0)
    return codes[0].as_py() if len(codes) else None


def test_dry_run_reports_calls_and_time_and_downloads_no_data(sim: Sim, tmp_path: Path) -> None:
    server = sim(stocks=20, start=date(2023, 1, 1), end=END)
    settings = settings_for(server, tmp_path, default_quota=100, quota_window=60.0)
    with AppContainer(settings) as container:
        plan = runner.dry_run(container, end=END)
        assert not container.ledger.entries("daily")
    by_api = {a.api: a for a in plan.apis}
    assert by_api["daily"].calls == len([d for d in _open_days(settings) if d <= END])
    assert by_api["index_daily"].calls == len(settings.indices) * 2  # 2023 and 2024 per index
    assert by_api["dividend"].calls == 20 + 0  # one per stock in stock_basic
    assert plan.minutes == pytest.approx(max(a.calls for a in plan.apis) / 100)
    assert "calls over" in plan.line()


def _open_days(settings: Settings) -> list[date]:
    con = open_lake(settings)
    try:
        return [
            r[0]
            for r in con.sql("SELECT cal_date FROM trade_cal WHERE exchange='SSE' AND is_open='1'").fetchall()
        ]
    finally:
        con.close()


@given(
    start=st.dates(date(2000, 1, 1), date(2030, 12, 31)),
    days=st.integers(0, 3000),
    grain=st.sampled_from(["year", "month"]),
)
def test_windows_tile_the_range_without_overlap(start: date, days: int, grain: str) -> None:
    last = date.fromordinal(min(start.toordinal() + days, date(2031, 12, 31).toordinal()))
    ws = windows(start, last, grain)  # type: ignore[arg-type]
    assert ws[0][0] <= start and ws[-1][1] >= last
    for (_, hi), (lo, _) in itertools.pairwise(ws):
        assert lo.toordinal() == hi.toordinal() + 1


def test_namechange_keeps_the_closed_twin_not_the_null_one() -> None:
    spec = get("namechange")
    table = pa.table(
        {
            "ts_code": ["600001.SH", "600001.SH", "600001.SH"],
            "name": ["ST甲", "ST甲", "甲"],
            "start_date": [date(2020, 1, 1), date(2020, 1, 1), date(2021, 1, 1)],
            "end_date": [None, date(2020, 12, 31), None],
        }
    )
    kept = spec.drop_null_twins(spec.conform(table))
    assert kept.num_rows == 2
    assert kept.column("end_date").to_pylist() == [date(2020, 12, 31), None]


def test_every_strategy_is_used_by_some_dataset() -> None:
    used = {s.strategy for s in DATASETS.values()}
    assert used == set(Strategy)
