"""`neo migrate --legacy OLD.db`: a legacy DuckDB database (the old upsert's output) into the lake,
equal after, resumable after an interruption or a kill, without duplicates."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from neo.core.config import load_settings
from neo.core.dates import BEIJING
from neo.core.errors import SchemaError, UsageError
from neo.datasets import get
from neo.lake.catalog import open_lake, read_files
from neo.lake.writer import ParquetWriter
from neo.legacy.compare import compare_legacy
from neo.pipeline.container import AppContainer
from neo.pipeline.planner import Planner
from tests.legacy_db import (
    DATASETS,
    END,
    PIECE_VALUES,
    START,
    arrow,
    build_legacy,
    cli,
    downloads,
    lake_files,
    market,
    run_migrate,
    settings_for,
    sql,
)
from tests.support.legacy_writer import create_table, upsert


@pytest.fixture(scope="module")
def legacy_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_legacy(tmp_path_factory.mktemp("legacy") / "old.db")


@pytest.fixture
def legacy(legacy_template: Path, tmp_path: Path) -> Path:
    """A fresh copy per test (same content, same modification time), so tests may edit it."""
    path = tmp_path / "old.db"
    path.write_bytes(legacy_template.read_bytes())
    st = legacy_template.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    return path


def lake_table(settings, name: str):  # type: ignore[no-untyped-def]
    spec = get(name)
    cols = ", ".join(spec.field_names)
    con = open_lake(settings)
    try:
        return con.sql(f"SELECT {cols} FROM {name} ORDER BY {', '.join(spec.key)}").to_arrow_table()
    finally:
        con.close()


def legacy_table(path: Path, name: str):  # type: ignore[no-untyped-def]
    spec = get(name)
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.sql(f"SELECT * FROM {name} ORDER BY {', '.join(spec.key)}").to_arrow_table()
    finally:
        con.close()


def raw_rows(settings, name: str) -> int:  # type: ignore[no-untyped-def]
    """Rows in the dataset's live files, before any dedupe: copies would show here."""
    con = duckdb.connect()
    try:
        return con.sql(f"SELECT count(*) FROM {read_files(settings.lake_dir, get(name))}").fetchall()[0][0]
    finally:
        con.close()


def test_the_legacy_db_has_upsert_semantics(legacy: Path) -> None:
    first, second = downloads("daily")
    legacy_rows = legacy_table(legacy, "daily")
    keys = {(r["ts_code"], r["trade_date"]) for r in first.to_pylist() + second.to_pylist()}
    assert legacy_rows.num_rows == len(keys) < first.num_rows + second.num_rows  # overlap upserted once
    revised = get("daily").conform(second).to_pylist()[0]  # row 0 of the second download was revised
    got = sql(
        legacy,
        f"SELECT close FROM daily WHERE ts_code = '{revised['ts_code']}' "
        f"AND trade_date = DATE '{revised['trade_date']}'",
    )
    old = [r for r in get("daily").conform(first).to_pylist() if r["ts_code"] == revised["ts_code"]]
    assert got == [(revised["close"],)]
    assert any(r["trade_date"] == revised["trade_date"] and r["close"] != revised["close"] for r in old)


def test_migrate_then_verify_equal(legacy: Path, tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "home")
    result = run_migrate(settings, legacy)
    assert [d.dataset for d in result.datasets] == list(DATASETS)
    for name in DATASETS:
        assert lake_table(settings, name).equals(legacy_table(legacy, name)), name
        assert raw_rows(settings, name) == legacy_table(legacy, name).num_rows  # no copies
    assert result.written == sum(legacy_table(legacy, n).num_rows for n in DATASETS)
    assert "daily_basic" in result.absent and not result.unknown_tables
    # Several pieces per year, each one file per partition: the interruptions below land mid-chunk.
    daily = next(d for d in result.datasets if d.dataset == "daily")
    assert daily.pieces > 2
    # Every migrated row carries the legacy file's modification time as its download time.
    stamp = datetime.fromtimestamp(0, UTC) + timedelta(microseconds=legacy.stat().st_mtime_ns // 1000)
    assert result.fetched_at == stamp
    con = duckdb.connect()
    stamps = con.sql(
        f"SELECT DISTINCT epoch_us(_fetched_at) FROM {read_files(settings.lake_dir, get('daily'))}"
    )
    assert stamps.fetchall() == [(legacy.stat().st_mtime_ns // 1000,)]
    con.close()
    report = compare_legacy(settings, legacy)
    assert report.equal and [d.dataset for d in report.datasets] == list(DATASETS)
    parts = {d.dataset: [p.part for p in d.partitions] for d in report.datasets}
    assert parts["stock_basic"] == [None] and parts["daily"] == [2023, 2024]


def test_a_finished_migration_run_again_does_nothing(legacy: Path, tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "home")
    run_migrate(settings, legacy)
    before = {p: (settings.lake_dir / p).stat().st_mtime_ns for p in lake_files(settings)}
    again = run_migrate(settings, legacy)
    assert again.nothing_to_do and again.written == 0
    assert all(d.already for d in again.datasets)
    after = {p: (settings.lake_dir / p).stat().st_mtime_ns for p in lake_files(settings)}
    assert after == before  # not a file rewritten


class InterruptingWriter(ParquetWriter):
    """Interrupts the migration right after its n-th piece is durable and before it is recorded:
    the worst moment, as the re-run must write that piece again without making a copy."""

    def __init__(self, settings, after: int) -> None:  # type: ignore[no-untyped-def]
        super().__init__(settings.lake_dir, settings.rejected_dir, fsync=False)
        self.after = after
        self.calls = 0

    def write(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        result = super().write(*args, **kwargs)
        self.calls += 1
        if self.calls == self.after:
            raise KeyboardInterrupt
        return result


def test_an_interrupted_migration_resumes_without_duplicates(legacy: Path, tmp_path: Path) -> None:
    clean = settings_for(tmp_path / "clean")
    run_migrate(clean, legacy)
    settings = settings_for(tmp_path / "home")
    for after in (4, 3):  # interrupted twice, in different chunks and datasets
        with pytest.raises(KeyboardInterrupt):
            run_migrate(settings, legacy, writer=InterruptingWriter(settings, after))
    result = run_migrate(settings, legacy)
    assert not result.nothing_to_do and result.written > 0
    assert lake_files(settings) == lake_files(clean)  # the same files, not one more
    for name in DATASETS:
        assert raw_rows(settings, name) == legacy_table(legacy, name).num_rows
        assert lake_table(settings, name).equals(legacy_table(legacy, name))
    assert compare_legacy(settings, legacy).equal
    assert run_migrate(settings, legacy).nothing_to_do


KILLED = """
import io, os, signal, sys
from pathlib import Path
from rich.console import Console
from neo.pipeline.container import AppContainer
from neo.core.config import load_settings
from neo.lake.writer import ParquetWriter
from neo.legacy.migrate import migrate

class Killer(ParquetWriter):
    calls = 0
    def write(self, *args, **kwargs):
        result = super().write(*args, **kwargs)
        Killer.calls += 1
        if Killer.calls == int(sys.argv[3]):
            os.kill(os.getpid(), signal.SIGKILL)  # durable file, unrecorded piece
        return result

s = load_settings(home=Path(sys.argv[1]), fsync=False)
with AppContainer(s) as c:
    migrate(c, Path(sys.argv[2]), writer=Killer(s.lake_dir, s.rejected_dir, fsync=False),
            console=Console(file=io.StringIO()), piece_values=int(sys.argv[4]))
"""


def test_a_killed_migration_resumes_without_duplicates(legacy: Path, tmp_path: Path) -> None:
    clean = settings_for(tmp_path / "clean")
    run_migrate(clean, legacy)
    settings = settings_for(tmp_path / "home")
    proc = subprocess.run(
        [sys.executable, "-c", KILLED, str(settings.home), str(legacy), "9", str(PIECE_VALUES)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -9, proc.stderr
    assert len(lake_files(settings)) > 5  # it got some way before the kill
    result = run_migrate(settings, legacy)
    assert result.written < result.rows  # it continued rather than starting over
    assert lake_files(settings) == lake_files(clean)
    for name in DATASETS:
        assert raw_rows(settings, name) == legacy_table(legacy, name).num_rows
    assert compare_legacy(settings, legacy).equal


def test_migrated_days_are_not_downloaded_again(legacy: Path, tmp_path: Path) -> None:
    gap = sql(legacy, "SELECT max(trade_date) FROM daily WHERE trade_date < DATE '2024-01-15'")[0][0]
    sql(legacy, f"DELETE FROM daily WHERE trade_date = DATE '{gap}'")
    settings = settings_for(tmp_path / "home")
    run_migrate(settings, legacy)
    with AppContainer(settings) as container:
        planner = Planner(settings, container.ledger, now=datetime(2024, 3, 1, 20, tzinfo=BEIJING))
        planned = planner.plan(["daily"], START, END)
    assert [r.params for r in planned] == [{"trade_date": gap.strftime("%Y%m%d")}]


def test_legacy_columns_of_other_types_extra_and_missing(legacy: Path, tmp_path: Path) -> None:
    """Text dates, DECIMAL prices, a column the spec lacks, one it misses, and no primary key."""
    sql(
        legacy,
        "CREATE TABLE old_daily AS SELECT ts_code, strftime(trade_date, '%Y%m%d') AS trade_date, "
        "CAST(open AS DECIMAL(12, 2)) AS open, high, low, CAST(close AS VARCHAR) AS close, pre_close, "
        "change, pct_chg, vol, now() AS updated_at FROM daily",
    )
    settings = load_settings(home=tmp_path / "home", fsync=False, legacy_tables={"daily": "old_daily"})
    result = run_migrate(settings, legacy, datasets=["daily"])
    (daily,) = result.datasets
    assert (daily.table, daily.ignored, daily.missing) == ("old_daily", ("updated_at",), ["amount"])
    got = lake_table(settings, "daily")
    expected = legacy_table(legacy, "daily")
    assert got.drop_columns(["amount"]).equals(expected.drop_columns(["amount"]))
    assert got.column("amount").null_count == got.num_rows
    assert compare_legacy(settings, legacy, ["daily"]).equal
    assert sql(legacy, "SELECT count(*) FROM old_daily")[0][0] == got.num_rows


def test_unknown_tables_are_listed_and_skipped(legacy: Path, tmp_path: Path) -> None:
    sql(legacy, "CREATE TABLE scratch (x INTEGER)")
    sql(legacy, "CREATE SCHEMA archive; CREATE TABLE archive.daily_2019 (x INTEGER)")
    settings = settings_for(tmp_path / "home")
    result = run_migrate(settings, legacy, datasets=["adj_factor"])
    assert result.unknown_tables == ["archive.daily_2019", "scratch"]
    assert [d.dataset for d in result.datasets] == ["adj_factor"]
    assert lake_table(settings, "daily").num_rows == 0  # not asked for


def test_a_changed_legacy_file_is_not_resumed_until_restarted(legacy: Path, tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "home")
    with pytest.raises(KeyboardInterrupt):
        run_migrate(settings, legacy, writer=InterruptingWriter(settings, 2))
    sql(legacy, "UPDATE adj_factor SET adj_factor = adj_factor * 2")
    with pytest.raises(UsageError, match=r"changed since its migration started.*--restart"):
        run_migrate(settings, legacy)
    result = run_migrate(settings, legacy, restart=True)
    assert result.written == result.rows
    assert compare_legacy(settings, legacy).equal  # the new import wins over the old pieces


def test_bad_legacy_tables_fail_with_one_line(legacy: Path, tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "home")
    sql(legacy, "CREATE TABLE weekly AS SELECT ts_code, close FROM daily")
    with pytest.raises(UsageError, match="'weekly' lacks trade_date of dataset weekly"):
        run_migrate(settings, legacy, datasets=["weekly"])
    sql(legacy, "CREATE TABLE monthly AS SELECT * FROM daily UNION ALL (SELECT * FROM daily LIMIT 3)")
    with pytest.raises(UsageError, match=r"holds some keys .* more than once"):
        run_migrate(settings, legacy, datasets=["monthly"])
    sql(legacy, "DROP TABLE monthly; CREATE TABLE monthly AS SELECT * FROM daily")
    sql(legacy, "ALTER TABLE monthly ALTER trade_date TYPE VARCHAR; UPDATE monthly SET trade_date = 'soon'")
    with pytest.raises(SchemaError, match=r"'monthly'.*does not fit"):
        run_migrate(settings, legacy, datasets=["monthly"])
    with pytest.raises(UsageError, match="no table 'daily_basic' for dataset daily_basic"):
        run_migrate(settings, legacy, datasets=["daily_basic"])


def test_migrate_cli(
    legacy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    args = ("migrate", "--legacy", str(legacy), "daily", "stock_basic")
    code, out, err = cli(monkeypatch, capsys, home, *args)
    assert code == 0, err
    n = legacy_table(legacy, "daily").num_rows
    assert f"daily <- daily: {n:,} of {n:,} rows written" in out
    assert f"check with `neo verify --legacy {legacy}`" in out
    code, out, err = cli(monkeypatch, capsys, home, *args)
    assert code == 0 and f"daily <- daily: already migrated ({n:,} rows)" in out
    assert "nothing to do" in out


def test_migrate_cli_errors_are_one_line(
    legacy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    text = tmp_path / "notes.db"
    text.write_text("not a database, just some notes\n")
    sql(legacy, "CREATE TABLE weekly AS SELECT ts_code FROM daily")
    cases = [
        ([str(tmp_path / "absent.db")], "absent.db: no such file"),
        ([str(text)], "notes.db is not a DuckDB database file"),
        ([str(tmp_path)], "is not a file"),
        ([str(legacy), "dialy"], "unknown dataset 'dialy'"),
        ([str(legacy), "weekly"], "'weekly' lacks trade_date"),
    ]
    for args, message in cases:
        code, out, err = cli(monkeypatch, capsys, home, "migrate", "--legacy", *args)
        assert code == 2, (args, out, err)
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
        assert "Traceback" not in err + out


def test_a_sqlite_file_is_refused_without_fetching_extensions(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite"
    sqlite3.connect(path).execute("CREATE TABLE daily (ts_code TEXT)").connection.commit()
    with pytest.raises(UsageError, match="is not a DuckDB database file"):
        run_migrate(settings_for(tmp_path / "home"), path)


def test_the_legacy_writer_keeps_the_latest_row(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "x.db"))
    spec = get("daily")
    create_table(con, spec)
    table = arrow(market().frame("daily")).slice(0, 3)
    upsert(con, spec, table)
    upsert(con, spec, table.set_column(table.column_names.index("close"), "close", [[1.0, 2.0, 3.0]]))
    assert con.sql("SELECT count(*), sum(close) FROM daily").fetchall()[0] == (3, 6.0)
