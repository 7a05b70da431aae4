"""`neo verify`: equality with a legacy DB proven per row (a single changed value is found and named by
its key), and the lake's own checks (unreadable files, foreign schemas, repeated keys, gaps)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from neo.core.errors import UsageError
from neo.datasets import DATASETS as ALL_DATASETS
from neo.datasets import get
from neo.lake import manifest
from neo.lake.writer import ParquetWriter
from neo.legacy.compare import compare_legacy
from neo.report.verify import DatasetHealth, check_lake
from tests.legacy_db import build_legacy, cli, run_migrate, settings_for, sql

DATASETS = ("trade_cal", "stock_basic", "daily", "income")


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A legacy DB and a data root it was migrated into, as templates."""
    root = tmp_path_factory.mktemp("migrated")
    legacy = build_legacy(root / "old.db", DATASETS)
    run_migrate(settings_for(root / "home"), legacy)
    return legacy, root / "home"


@pytest.fixture
def setup(migrated: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the migrated pair per test, so tests may change either side."""
    legacy, home = migrated
    shutil.copytree(home, tmp_path / "home")
    return Path(shutil.copy2(legacy, tmp_path / "old.db")), tmp_path / "home"


def a_daily_row(legacy: Path) -> tuple[str, str, float]:
    (code, day, close), *_ = sql(
        legacy,
        "SELECT ts_code, CAST(trade_date AS VARCHAR), close FROM daily ORDER BY 1, 2 LIMIT 1 OFFSET 100",
    )
    return code, day, close


def test_a_migrated_lake_verifies_equal(setup: tuple[Path, Path]) -> None:
    legacy, home = setup
    report = compare_legacy(settings_for(home), legacy)
    assert report.equal
    assert sorted(d.dataset for d in report.datasets) == sorted(DATASETS)
    daily = next(d for d in report.datasets if d.dataset == "daily")
    assert [p.part for p in daily.partitions] == [2023, 2024]
    assert daily.legacy_rows == daily.lake_rows == sql(legacy, "SELECT count(*) FROM daily")[0][0]
    assert not daily.diffs and daily.differing_keys == 0


def test_a_single_changed_value_is_found_by_its_key(setup: tuple[Path, Path]) -> None:
    legacy, home = setup
    code, day, close = a_daily_row(legacy)
    # The smallest change a double can take: sums cannot see it, the row hash must.
    sql(
        legacy,
        f"UPDATE daily SET close = nextafter(close, 1e9) WHERE ts_code = '{code}' AND trade_date = '{day}'",
    )
    report = compare_legacy(settings_for(home), legacy)
    assert not report.equal
    daily = next(d for d in report.datasets if d.dataset == "daily")
    (bad,) = [p for p in daily.partitions if not p.equal]
    assert bad.part == int(day[:4]) and bad.legacy_rows == bad.lake_rows and not bad.hash_equal
    assert daily.differing_keys == 1
    (diff,) = daily.diffs
    assert diff.key == {"ts_code": code, "trade_date": datetime.strptime(day, "%Y-%m-%d").date()}
    assert [c for c, _, _ in diff.columns] == ["close"]
    assert float(diff.columns[0][2]) == close and float(diff.columns[0][1]) > close
    assert all(d.equal for d in report.datasets if d.dataset != "daily")


def test_swapped_values_keep_counts_and_sums_but_not_the_hash(setup: tuple[Path, Path]) -> None:
    legacy, home = setup
    rows = sql(legacy, "SELECT ts_code, trade_date, close FROM daily WHERE close IS NOT NULL ORDER BY 1, 2")
    a = rows[0]
    b = next(r for r in rows if r[2] != a[2])
    sql(legacy, f"UPDATE daily SET close = {b[2]!r} WHERE ts_code = '{a[0]}' AND trade_date = '{a[1]}'")
    sql(legacy, f"UPDATE daily SET close = {a[2]!r} WHERE ts_code = '{b[0]}' AND trade_date = '{b[1]}'")
    daily = compare_legacy(settings_for(home), legacy, ["daily"]).datasets[0]
    (bad,) = [p for p in daily.partitions if not p.equal]
    assert bad.legacy_rows == bad.lake_rows and bad.sums == [] and not bad.hash_equal
    assert [(d.key["ts_code"], d.key["trade_date"]) for d in daily.diffs] == [a[:2], b[:2]]
    assert [d.columns for d in daily.diffs] == [
        [("close", str(b[2]), str(a[2]))],
        [("close", str(a[2]), str(b[2]))],
    ]


def test_missing_and_extra_rows_are_named(setup: tuple[Path, Path]) -> None:
    legacy, home = setup
    code, day, _ = a_daily_row(legacy)
    sql(legacy, f"DELETE FROM daily WHERE ts_code = '{code}' AND trade_date = '{day}'")
    sql(legacy, "INSERT INTO stock_basic (ts_code, name) VALUES ('999999.SH', 'added later')")
    report = compare_legacy(settings_for(home), legacy)
    by = {d.dataset: d for d in report.datasets}
    (gone,) = by["daily"].diffs
    assert gone.key["ts_code"] == code and gone.in_lake and not gone.in_legacy
    assert gone.describe().endswith("only in the lake")
    (added,) = by["stock_basic"].diffs
    assert (
        added.key == {"ts_code": "999999.SH"}
        and added.describe() == "ts_code=999999.SH: only in the legacy DB"
    )
    (part,) = by["stock_basic"].partitions
    assert part.part is None and part.legacy_rows == part.lake_rows + 1
    assert part.describe() == f"differ: rows {part.legacy_rows} (legacy) vs {part.lake_rows} (lake); row hash"
    sql(legacy, "INSERT INTO daily (ts_code, trade_date) VALUES ('000001.SZ', DATE '2020-03-02')")
    daily = compare_legacy(settings_for(home), legacy, ["daily"]).datasets[0]
    old, gap = [p for p in daily.partitions if not p.equal]
    assert (old.part, old.describe()) == (2020, "only in the legacy DB (1 rows)")
    assert gap.part == int(day[:4]) and gap.describe().startswith("differ: rows ")


def test_verify_cli_exit_codes_and_output(
    setup: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    legacy, home = setup
    code, out, err = cli(monkeypatch, capsys, home, "verify", "--legacy", str(legacy))
    assert code == 0, out + err
    assert "equal: 4 datasets" in out and "NOT equal" not in out
    ts_code, day, _ = a_daily_row(legacy)
    sql(legacy, f"UPDATE daily SET vol = vol + 1 WHERE ts_code = '{ts_code}' AND trade_date = '{day}'")
    code, out, err = cli(monkeypatch, capsys, home, "verify", "--legacy", str(legacy), "daily")
    assert code == 1
    assert f"ts_code={ts_code}, trade_date={day}: vol" in out
    assert "NOT equal: 1 of 1 datasets differ (daily)" in out
    assert "sums of vol" in out  # a change of 1 in vol shows in its sum as well


def test_verify_cli_errors_are_one_line(
    setup: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    legacy, home = setup
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    cases = [
        (["--legacy", str(tmp_path / "absent.db")], "absent.db: no such file"),
        (["--legacy", str(notes)], "is not a DuckDB database file"),
        (["--legacy", str(legacy), "dialy"], "unknown dataset 'dialy'"),
        (["--legacy", str(legacy), "weekly"], "no table 'weekly' for dataset weekly"),
        (["dialy"], "unknown dataset 'dialy'"),
    ]
    for args, message in cases:
        code, out, err = cli(monkeypatch, capsys, home, "verify", *args)
        assert code == 2 and message in err and err.count("\n") == 1, (args, out, err)
        assert "Traceback" not in out + err


# --- the lake on its own --------------------------------------------------------------------------


def health(home: Path, *datasets: str) -> dict[str, DatasetHealth]:
    return {h.dataset: h for h in check_lake(settings_for(home), list(datasets) or None)}


def test_a_migrated_lake_passes_its_own_checks(
    setup: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _, home = setup
    got = health(home)
    assert all(h.ok for h in got.values()), [h for h in got.values() if not h.ok]
    assert got["daily"].files > 2 and got["daily"].rows > 500
    code, out, err = cli(monkeypatch, capsys, home, "verify")
    listed = len(ALL_DATASETS) - sum(1 for s in ALL_DATASETS.values() if s.freq)  # minute bars: opt-in
    assert code == 0 and f"lake OK: {listed} datasets checked" in out, out + err


def test_a_corrupt_file_is_found(
    setup: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    legacy, home = setup
    victim = manifest.live_files(settings_for(home).lake_dir, get("daily"))[1]
    data = bytearray(victim.read_bytes())
    data[4:40] = b"\xab" * 36  # the first page header: the footer, and so the schema, still read fine
    victim.write_bytes(bytes(data))
    assert pq.read_schema(victim).names[:2] == ["ts_code", "trade_date"]
    got = health(home, "daily", "income")
    assert [p for p, _ in got["daily"].bad_files] == [victim]
    assert got["daily"].bad_files[0][1].startswith("unreadable")
    assert got["income"].ok  # one dataset's bad file does not stop the others' checks
    report = compare_legacy(settings_for(home), legacy)
    by = {d.dataset: d for d in report.datasets}
    assert not report.equal and by["daily"].error and "cannot be read" in by["daily"].error
    assert by["income"].equal
    code, out, _ = cli(monkeypatch, capsys, home, "verify", "daily")
    # The console wraps a long path at its width: look for the name across line breaks.
    assert code == 1 and victim.name in out.replace("\n", "") and "problems in daily" in out


def test_a_file_of_another_schema_is_found(setup: tuple[Path, Path]) -> None:
    """A live file replaced by one of another schema (a stray file beside the live ones is not
    read at all: test_lake)."""
    _, home = setup
    first = manifest.live_files(settings_for(home).lake_dir, get("daily"))[0]
    table = pq.read_table(first)
    texts = table.set_column(table.schema.get_field_index("close"), "close", table["close"].cast(pa.string()))
    pq.write_table(texts, first)
    ((bad, why),) = health(home, "daily")["daily"].bad_files
    assert bad == first and why.startswith("schema differs")
    assert "close is string, declared double" in why


def test_repeated_and_conflicting_keys_are_found(setup: tuple[Path, Path]) -> None:
    _, home = setup
    settings = settings_for(home)
    writer = ParquetWriter(settings.lake_dir, settings.rejected_dir, fsync=False)
    # A snapshot whose newest download holds one key twice: the view shows it twice.
    at = datetime(2030, 1, 1, tzinfo=UTC)
    twice = pa.table({"ts_code": ["000001.SZ", "000001.SZ"], "name": ["a", "b"]})
    writer.write(twice, get("stock_basic"), batch_id="twice", fetched_at=at)
    # A daily row written again at the same download time with another value: which one the view
    # shows is left to chance.
    first = manifest.live_files(settings.lake_dir, get("daily"))[0]
    row = pq.read_table(first).slice(0, 1)
    fetched = row["_fetched_at"][0].as_py()
    changed = row.drop_columns(["_fetched_at"]).set_column(2, "open", pa.array([123.45]))
    writer.write(changed, get("daily"), batch_id="again", fetched_at=fetched)
    got = health(home, "stock_basic", "daily")
    assert got["stock_basic"].duplicate_keys == 1 and not got["stock_basic"].ok
    assert got["stock_basic"].examples == [
        "ts_code=000001.SZ: shown 2 times",
        "ts_code=000001.SZ: 2 different rows at one download time",
    ]
    assert got["daily"].duplicate_keys == 0 and got["daily"].conflicting_keys == 1
    code = row["ts_code"][0].as_py()
    assert got["daily"].examples[0].startswith(f"ts_code={code}, trade_date=")
    # An identical copy (a retried batch in a newer generation) is harmless and not reported.
    writer.write(row.drop_columns(["_fetched_at"]), get("daily"), batch_id="same", fetched_at=fetched)
    assert health(home, "daily")["daily"].conflicting_keys == 1


def test_gaps_against_the_calendar_are_found(setup: tuple[Path, Path], tmp_path: Path) -> None:
    legacy, _ = setup
    day = sql(legacy, "SELECT min(trade_date) + 20 FROM daily")[0][0]
    day = sql(legacy, f"SELECT min(trade_date) FROM daily WHERE trade_date >= DATE '{day}'")[0][0]
    sql(legacy, f"DELETE FROM daily WHERE trade_date = DATE '{day}'")
    home = tmp_path / "fresh"
    run_migrate(settings_for(home), legacy)
    got = health(home, "daily", "trade_cal")
    assert got["daily"].missing == [f"{day:%Y%m%d}"] and not got["daily"].ok
    assert got["trade_cal"].ok


def test_without_a_calendar_gaps_are_not_checked(tmp_path: Path) -> None:
    legacy = build_legacy(tmp_path / "old.db", ["daily"])
    run_migrate(settings_for(tmp_path / "home"), legacy)
    got = health(tmp_path / "home", "daily")["daily"]
    assert got.not_checked == ["gaps: no trade calendar in the lake (neo download trade_cal)"]
    assert not got.ok


def test_unknown_dataset(setup: tuple[Path, Path]) -> None:
    with pytest.raises(UsageError, match="unknown dataset"):
        health(setup[1], "dialy")
