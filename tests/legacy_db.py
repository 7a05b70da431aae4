"""Legacy DuckDB databases built like the old DBOperator.upsert built them, from the simulator's market:
each dataset downloaded twice over overlapping days, the second time with revised values, and upserted
(latest wins per primary key). Shared by test_migrate.py and test_verify.py."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable
from datetime import date
from functools import cache
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from rich.console import Console

from neo.cli import main
from neo.core.config import Settings, load_settings
from neo.datasets import Strategy, get
from neo.legacy.migrate import MigrateResult, migrate
from neo.pipeline.container import AppContainer
from neo.sim.market import Market
from tests.support.legacy_writer import create_table, upsert

START, END = date(2023, 11, 1), date(2024, 2, 29)  # two years, so two partitions
DATASETS = ("stock_basic", "trade_cal", "daily", "adj_factor", "income")
PIECE_VALUES = 2_000  # tiny pieces: several per chunk, so interruptions land inside chunks


@cache
def market() -> Market:
    return Market(stocks=12, start=START, end=END, seed=7)


def arrow(frame: dict[str, np.ndarray]) -> pa.Table:
    """A frame as the client would type it: NaN arrives as null (JSON has no NaN)."""
    return pa.table(
        {
            k: pa.array(list(v), pa.string()) if v.dtype == object else pa.array(v, from_pandas=True)
            for k, v in frame.items()
        }
    )


def downloads(name: str) -> list[pa.Table]:
    """What the old system downloaded, in order: overlapping windows, the later one revised."""
    m = market()
    if name in ("stock_basic", "trade_cal"):
        return [arrow(m.frame(name))]
    if get(name).strategy is Strategy.PERIOD:
        return [arrow(m.statement(name, p)) for p in m.periods()]
    table = arrow(m.frame(name))
    days = sorted(set(table.column("trade_date").to_pylist()))
    first = table.filter(pc.is_in(table["trade_date"], pa.array(days[: 2 * len(days) // 3])))
    second = table.filter(pc.is_in(table["trade_date"], pa.array(days[len(days) // 3 :])))
    return [first, revised(second)]


def revised(table: pa.Table) -> pa.Table:
    """Every third row's first price column changed, as a source revision would."""
    column = "close" if "close" in table.column_names else "adj_factor"
    values = table.column(column).to_numpy(zero_copy_only=False).copy()
    values[::3] = np.round(values[::3] * 1.01 + 0.01, 2)
    return table.set_column(table.column_names.index(column), column, pa.array(values))


def build_legacy(path: Path, datasets: Iterable[str] = DATASETS) -> Path:
    con = duckdb.connect(str(path))
    try:
        for name in datasets:
            spec = get(name)
            create_table(con, spec)
            for batch in downloads(name):
                upsert(con, spec, batch)
    finally:
        con.close()
    return path


def sql(path: Path, statement: str) -> list[tuple]:
    """Run SQL on a legacy DB the way someone editing it by hand would (read-write)."""
    con = duckdb.connect(str(path))
    try:
        return con.execute(statement).fetchall()
    finally:
        con.close()


def settings_for(home: Path) -> Settings:
    return load_settings(home=home, fsync=False)


def run_migrate(settings: Settings, legacy: Path, **kwargs: object) -> MigrateResult:
    with AppContainer(settings) as container:
        return migrate(
            container,
            legacy,
            console=Console(file=io.StringIO()),
            piece_values=PIECE_VALUES,
            **kwargs,  # type: ignore[arg-type]
        )


def lake_files(settings: Settings) -> set[str]:
    """Every Parquet file in the lake, relative to it (placeholders included)."""
    return {str(p.relative_to(settings.lake_dir)) for p in settings.lake_dir.rglob("*.parquet")}


def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], home: Path, *args: str):
    """`neo ARGS` in this process, through the console entry point: (exit code, stdout, stderr)."""
    monkeypatch.setenv("NEO_HOME", str(home))
    monkeypatch.setenv("NEO_FSYNC", "false")
    monkeypatch.setattr(sys, "argv", ["neo", *args])
    code: int | str | None = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err
