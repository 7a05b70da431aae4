"""Compaction and vacuum: sorted, deduplicated, idempotent, and safe next to writers, readers and kills."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from neo.core.config import Settings, load_settings
from neo.datasets import get
from neo.lake import catalog, engine, layout, manifest
from neo.lake import compact as compact_module
from neo.lake.compact import compact
from neo.lake.vacuum import vacuum
from neo.lake.writer import ParquetWriter
from tests.conftest import read_line

DAILY = get("daily")
NEO = str(Path(sys.executable).with_name("neo"))
T0 = datetime(2026, 1, 5, tzinfo=UTC)
ALL_COLUMNS = ", ".join(DAILY.field_names)


def days(n: int, first: date = date(2023, 11, 1)) -> list[date]:
    out, d = [], first
    while len(out) < n:
        if d.weekday() < 5:
            out.append(d)
        d += timedelta(days=1)
    return out


def batch(day: date, stocks: int, version: int = 0) -> pa.Table:
    """One day of daily bars for `stocks` stocks; `version` > 0 is a revision with other prices."""
    rng = np.random.default_rng((day.toordinal(), version))
    close = np.round(rng.uniform(3, 80, stocks), 2)
    # Served newest code first, like no real order: the writer and compaction must sort.
    codes = [f"{i:06d}.{'SH' if i % 2 else 'SZ'}" for i in reversed(range(stocks))]
    return pa.table(
        {
            "ts_code": codes,
            "trade_date": pa.array([day] * stocks, pa.date32()),
            "close": close,
            "vol": np.round(rng.uniform(1e3, 1e6, stocks), 0),
        }
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(home=tmp_path / "data", fsync=False, compact_memory_limit="256MB")


def writer(settings: Settings) -> ParquetWriter:
    return ParquetWriter(settings.lake_dir, settings.rejected_dir, fsync=False)


def fill(settings: Settings, dates: list[date], stocks: int, version: int = 0, start: int = 0) -> None:
    w = writer(settings)
    for i, d in enumerate(dates):
        at = T0 + timedelta(days=version, seconds=start + i)
        w.write(batch(d, stocks, version), DAILY, batch_id=f"v{version}-{d:%Y%m%d}", fetched_at=at)


def lake_rows(settings: Settings, sql: str) -> list[tuple]:
    """Rows of `sql` through the views (the connection kept open while they are read: DuckDB 1.4's
    relations do not keep theirs alive)."""
    con = catalog.open_lake(settings)
    try:
        return con.sql(sql).fetchall()
    finally:
        con.close()


def fingerprint(settings: Settings) -> tuple:
    """Rows, distinct keys and an order-independent hash of every value, through the views."""
    con = catalog.open_lake(settings)
    try:
        return con.sql(
            f"SELECT count(*), count(DISTINCT (ts_code, trade_date)), sum(hash({ALL_COLUMNS})::HUGEINT) "
            "FROM daily"
        ).fetchall()[0]
    finally:
        con.close()


def disk_files(settings: Settings) -> set[str]:
    base = settings.lake_dir / "daily"
    return {p.relative_to(base).as_posix() for p in base.rglob("*.parquet") if not layout.is_placeholder(p)}


def test_compaction_merges_sorts_and_keeps_the_latest_version(settings: Settings) -> None:
    dates = days(60)  # spans two years, so two partitions
    fill(settings, dates, 300)
    fill(settings, dates[::7], 300, version=1)  # revisions of some days
    before = fingerprint(settings)
    assert len(disk_files(settings)) == 60 + 9

    [result] = compact(settings, [DAILY])

    assert sorted(p.partition for p in result.partitions) == ["year=2023", "year=2024"]
    assert fingerprint(settings) == before
    live = manifest.live_files(settings.lake_dir, DAILY)
    assert len(live) == 2 and all(p.name.startswith("c") for p in live)
    for path in live:
        f = pq.ParquetFile(path)
        assert f.schema_arrow.remove_metadata().equals(layout.file_schema(DAILY))
        table = f.read()
        keys = list(zip(table["ts_code"].to_pylist(), table["trade_date"].to_pylist(), strict=True))
        assert len(set(keys)) == len(keys)
        order = [((d.year, d.month), code, d) for code, d in keys]  # by month, then key
        assert order == sorted(order)
    # The revised day holds the revision's values (newer download), the others the originals.
    con = catalog.open_lake(settings)
    revised = batch(dates[7], 300, 1).sort_by("ts_code")["close"].to_pylist()
    got = con.sql(f"SELECT close FROM daily WHERE trade_date = DATE '{dates[7]}' ORDER BY ts_code").fetchall()
    assert [r[0] for r in got] == revised


def test_a_null_in_the_key_is_kept_when_a_partition_is_merged_in_ranges(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A null is a value of the key (a statement version without f_ann_date): rows holding one in
    the column the ranges are cut on must fall in one range, not in none."""
    w = writer(settings)
    for i, d in enumerate(days(40)):
        table = batch(d, 20)
        codes = table["ts_code"].to_pylist()
        table = table.set_column(0, "ts_code", pa.array([None, *codes[1:]], pa.string()))
        w.write(table, DAILY, batch_id=f"n-{d:%Y%m%d}", fetched_at=T0 + timedelta(seconds=i))
    before = fingerprint(settings)
    # Four pieces per partition, as if its rows did not fit the memory limit at once.
    monkeypatch.setattr(compact_module, "ROW_MEMORY", settings.compact_memory_bytes // 200)  # 800 rows
    [result] = compact(settings, [DAILY])
    assert sum(p.files_out for p in result.partitions) > len(result.partitions)  # cut in ranges
    assert fingerprint(settings) == before
    assert lake_rows(settings, "SELECT count(*) FROM daily WHERE ts_code IS NULL") == [(40,)]


@pytest.mark.parametrize(
    "limits",
    [{"compact_file_mb": 2}, {"compact_memory_limit": "100MB"}],  # ~50 MB of rows: split either way
    ids=["by file size", "by memory limit"],
)
def test_row_groups_let_a_day_and_a_stock_skip_most_of_the_year(
    settings: Settings, limits: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files and row groups follow (month, ts_code): a day's rows lie in the row groups of its month,
    a stock's rows in one row group per month, so zone maps skip the rest either way."""
    monkeypatch.setattr(compact_module, "ROW_GROUP_ROWS", 4096)  # ~10 groups per month of 2,000 stocks
    settings = settings.model_copy(update=limits)  # several files per partition
    dates = days(250, date(2024, 1, 2))
    fill(settings, dates, 2000)
    compact(settings, [DAILY])
    live = sorted(manifest.live_files(settings.lake_dir, DAILY), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
    assert len(live) > 1
    groups = []  # (first, last) of (month, ts_code) per row group, in file order
    for path in live:
        meta = pq.ParquetFile(path).metadata
        names = meta.schema.to_arrow_schema().names
        for rg in range(meta.num_row_groups):
            code = meta.row_group(rg).column(names.index("ts_code")).statistics
            day = meta.row_group(rg).column(names.index("trade_date")).statistics
            groups.append((day.min, day.max, code.min, code.max))
    rows = pa.concat_tables(pq.read_table(p, columns=["ts_code", "trade_date"]) for p in live)
    order = [
        ((d.year, d.month), c, d)
        for c, d in zip(rows["ts_code"].to_pylist(), rows["trade_date"].to_pylist(), strict=True)
    ]
    assert order == sorted(order)  # across the files too: they split the order into ranges
    months = len({(d.year, d.month) for d in dates})
    day = dates[100]
    with_day = [g for g in groups if g[0] <= day <= g[1]]
    with_stock = [g for g in groups if g[2] <= "001000.SZ" <= g[3]]
    assert len(groups) > 100
    assert len(with_day) <= 2 * len(groups) / months  # about one month's groups, not the year
    assert len(with_stock) <= 2 * months  # about one group per month


def test_each_statement_runs_in_a_database_of_its_own_without_file_caches(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One long-lived database kept memory from every statement it ran, so peak RSS grew with the
    number of partitions: each statement (the range quantiles, each range's COPY) gets a fresh one,
    closed before the next opens, with DuckDB's footer and file caches off."""
    opened: list[duckdb.DuckDBPyConnection] = []
    open_at_connect: list[int] = []  # connections still open when another was asked for
    caches: list[tuple] = []

    def is_open(con: duckdb.DuckDBPyConnection) -> bool:
        try:
            con.execute("SELECT 1")
        except duckdb.ConnectionException:
            return False
        return True

    def connect(*args: object, **kwargs: object) -> duckdb.DuckDBPyConnection:
        open_at_connect.append(sum(map(is_open, opened)))
        con = engine.connect(*args, **kwargs)
        setting = (
            "SELECT current_setting('enable_external_file_cache'), current_setting('parquet_metadata_cache')"
        )
        caches.append(con.execute(setting).fetchone())
        opened.append(con)
        return con

    monkeypatch.setattr(compact_module, "engine", SimpleNamespace(connect=connect))
    # Memory per row raised so that 2023's ~13,000 rows need about three ranges, 2024's one.
    monkeypatch.setattr(compact_module, "ROW_MEMORY", settings.compact_memory_bytes // 6_000)
    fill(settings, days(60), 300)
    before = fingerprint(settings)

    [result] = compact(settings, [DAILY])

    outputs = {p.partition: p.files_out for p in result.partitions}
    assert outputs["year=2023"] > 1 and outputs["year=2024"] == 1
    # A split partition: one statement for the range bounds, then one COPY per range.
    assert len(opened) == sum(n + (n > 1) for n in outputs.values())
    assert open_at_connect == [0] * len(opened)
    assert not any(map(is_open, opened))
    assert caches == [(False, False)] * len(opened)
    assert fingerprint(settings) == before


def test_a_second_run_changes_nothing_and_only_new_partitions_are_redone(settings: Settings) -> None:
    fill(settings, days(60), 200)
    compact(settings, [DAILY])
    state = manifest.read(settings.lake_dir, DAILY).state
    files = disk_files(settings)

    [again] = compact(settings, [DAILY])
    assert again.skipped == "already compact"
    assert manifest.read(settings.lake_dir, DAILY).state == state
    assert disk_files(settings) == files

    fill(settings, [date(2024, 3, 1)], 200, version=2)  # one new day in 2024
    [third] = compact(settings, [DAILY])
    assert [p.partition for p in third.partitions] == ["year=2024"]
    kept_2023 = [c for c in state.compacted_rels if c.startswith("year=2023/")]
    assert set(kept_2023) <= set(manifest.read(settings.lake_dir, DAILY).state.compacted_rels)


def test_an_older_download_written_late_does_not_win(settings: Settings) -> None:
    """The slow queue may write an older download after a newer one was compacted."""
    d = date(2024, 2, 1)
    w = writer(settings)
    w.write(batch(d, 50, 1), DAILY, batch_id="new", fetched_at=T0 + timedelta(days=1))
    compact(settings, [DAILY])
    w.write(batch(d, 50, 0), DAILY, batch_id="old", fetched_at=T0)  # delayed, older download
    expected = sorted(batch(d, 50, 1)["close"].to_pylist())
    con = catalog.open_lake(settings)
    assert sorted(r[0] for r in con.sql("SELECT close FROM daily").fetchall()) == expected
    compact(settings, [DAILY])
    con = catalog.open_lake(settings)
    assert sorted(r[0] for r in con.sql("SELECT close FROM daily").fetchall()) == expected


def test_snapshots_keep_the_newest_download(settings: Settings) -> None:
    spec = get("stock_basic")
    w = writer(settings)
    for i, names in enumerate((["A", "B", "C"], ["A", "B"], ["A", "B", "D"])):
        table = pa.table({"ts_code": names, "name": [f"{n}{i}" for n in names]})
        w.write(table, spec, batch_id=f"s{i}", fetched_at=T0 + timedelta(hours=i))
    query = "SELECT ts_code, name FROM stock_basic ORDER BY ts_code"
    before = lake_rows(settings, query)
    [result] = compact(settings, [spec])
    assert result.partitions[0].files_in == 3 and result.partitions[0].rows == 3
    assert lake_rows(settings, query) == before == [("A", "A2"), ("B", "B2"), ("D", "D2")]


def test_vacuum_keeps_files_for_the_grace_period_and_clears_crash_leftovers(settings: Settings) -> None:
    fill(settings, days(30, date(2024, 1, 2)), 100)
    con = duckdb.connect(str(catalog.sync(settings).path), read_only=True)  # an analyst, connected early
    before = fingerprint(settings)
    compact(settings, [DAILY])
    partition = settings.lake_dir / "daily" / "year=2024"
    dead = partition / ".g00000001-x.parquet.999999999.tmp"  # a writer killed mid-file
    dead.write_bytes(b"partial")
    staging = partition / ".compact-deadbeef"  # a compaction killed mid-merge
    staging.mkdir()
    (staging / "part_0.parquet").write_bytes(b"partial")
    spill = settings.tmp_dir / "compact-999999999-abcd"
    spill.mkdir(parents=True)

    vacuum(settings, timedelta(hours=1))
    assert len(disk_files(settings)) == 31  # 30 superseded files stay for the grace period
    assert not dead.exists() and not staging.exists() and not spill.exists()
    assert con.sql("SELECT count(*) FROM daily").fetchall()[0][0] == before[0]  # the early connection works

    vacuum(settings, timedelta(0))
    assert disk_files(settings) == set(manifest.read(settings.lake_dir, DAILY).state.compacted_rels)
    assert manifest.read(settings.lake_dir, DAILY).retired == []
    assert fingerprint(settings) == before
    with pytest.raises(duckdb.IOException):  # documented: reconnect after the grace period
        con.sql("SELECT count(*) FROM daily").fetchall()[0]


def test_compaction_and_vacuum_skip_a_dataset_another_one_holds(settings: Settings) -> None:
    fill(settings, days(5, date(2024, 1, 2)), 10)
    with manifest.maintenance(settings.lake_dir, DAILY):
        [result] = compact(settings, [DAILY])
        [v, _] = vacuum(settings, timedelta(0), [DAILY])
    assert result.skipped == v.skipped == "another compaction or vacuum is running"
    assert len(disk_files(settings)) == 5


def test_a_crash_before_the_commit_leaves_the_lake_as_it_was(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(settings, days(40), 100)
    before = fingerprint(settings)

    real_commit = manifest.commit
    commits = []

    def crash(*args: object, **kwargs: object) -> object:
        commits.append(1)
        if len(commits) == 2:  # the first one starts the new generation; the second commits
            raise KeyboardInterrupt  # as if killed: nothing after this point runs
        return real_commit(*args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(manifest, "commit", crash)
        with pytest.raises(KeyboardInterrupt):
            compact(settings, [DAILY])
    assert fingerprint(settings) == before
    orphans = {f for f in disk_files(settings) if f.split("/")[-1].startswith("c")}
    assert orphans  # merged files were written but never listed
    compact(settings, [DAILY])  # the next run finishes the job
    assert fingerprint(settings) == before
    vacuum(settings, timedelta(0))
    assert not orphans & disk_files(settings)
    assert fingerprint(settings) == before


def test_a_crash_after_the_commit_keeps_queries_working(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(settings, days(40), 100)
    catalog.sync(settings)
    before = fingerprint(settings)
    calls = []
    real_sync = catalog.sync

    def sync_then_crash(s: Settings) -> object:
        calls.append(1)
        if len(calls) == 1:  # the sync after the commit
            raise KeyboardInterrupt
        return real_sync(s)

    with monkeypatch.context() as m:
        m.setattr(catalog, "sync", sync_then_crash)
        with pytest.raises(KeyboardInterrupt):
            compact(settings, [DAILY])
    stale = duckdb.connect(str(settings.metadata_db), read_only=True)  # views from before the commit
    assert stale.sql(f"SELECT count(*), sum(hash({ALL_COLUMNS})::HUGEINT) FROM daily").fetchall()[0] == (
        before[0],
        before[2],
    )
    vacuum(settings, timedelta(hours=1))  # syncs first; nothing within the grace period goes
    assert fingerprint(settings) == before


KILLED_COMPACTION = """
import os, sys, threading
from pathlib import Path
from neo import cli
from neo.lake import catalog, compact, manifest

point = sys.argv[1]
marker, sys.stdout = sys.stdout, sys.stderr  # stdout carries only the line the test waits for

def block():
    print(point, file=marker, flush=True)  # the test kills this process on this line
    threading.Event().wait()

def wrap(module, name, nth=1, before=False):
    real, calls = getattr(module, name), []
    def wrapper(*args, **kwargs):
        calls.append(1)
        if before and len(calls) == nth:
            block()
        out = real(*args, **kwargs)
        if not before and len(calls) == nth:
            block()
        return out
    setattr(module, name, wrapper)

if point == "new-generation":  # compaction's first manifest write is done; nothing merged yet
    wrap(manifest, "new_generation")
elif point == "staged":  # a merged file is complete in its hidden staging directory
    rename = os.replace
    def replace(src, dst):
        if Path(src).parent.name.startswith(compact.TEMP_PREFIX):
            block()
        rename(src, dst)
    os.replace = replace
elif point == "merged":  # a partition's compacted files are in place, listed by no manifest
    wrap(compact, "_merge")
elif point == "before-commit":  # every partition merged (new_generation made the first commit)
    wrap(manifest, "commit", nth=2, before=True)
elif point == "after-commit":  # committed; metadata.db not synced yet
    wrap(catalog, "sync", before=True)
sys.argv = ["neo", "compact", "daily"]
cli.main()
"""
KILL_POINTS = ("new-generation", "staged", "merged", "before-commit", "after-commit")


def test_sigkill_during_compaction_then_a_rerun(settings: Settings) -> None:
    env = {
        **os.environ,
        "NEO_HOME": str(settings.home),
        "NEO_FSYNC": "0",
        "NEO_COMPACT_MEMORY_LIMIT": "256MB",
    }
    dates = days(260)
    fill(settings, dates, 400)
    killed = 0
    for round_, point in enumerate(KILL_POINTS, start=1):
        fill(settings, dates[round_ * 20 : round_ * 20 + 30], 400, version=round_)  # new work each round
        before = fingerprint(settings)
        # A child runs `neo compact daily` and stops at a known point of it: killed there, every
        # round really is killed mid-run, however fast or loaded the machine.
        proc = subprocess.Popen(
            [sys.executable, "-c", KILLED_COMPACTION, point], env=env, stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        try:
            reached = read_line(proc.stdout, 120, point)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                killed += 1
            proc.wait()
        assert reached == point, f"round {round_}: compaction exited before {point}"
        assert fingerprint(settings) == before, f"round {round_} ({point})"
    assert killed == len(KILL_POINTS)  # every round was killed mid-run
    before = fingerprint(settings)
    done = subprocess.run([NEO, "compact", "daily"], env=env, capture_output=True, text=True, check=True)
    assert "daily:" in done.stdout
    subprocess.run([NEO, "vacuum", "--older-than", "0s"], env=env, check=True, capture_output=True)
    assert fingerprint(settings) == before
    state = manifest.read(settings.lake_dir, DAILY).state
    assert disk_files(settings) == set(state.compacted_rels)  # nothing orphaned is left behind
    assert not list((settings.lake_dir / "daily").rglob(".*"))


def test_other_engines_read_the_compacted_lake(settings: Settings) -> None:
    import polars as pl
    import pyarrow.dataset as ds

    fill(settings, days(30, date(2024, 1, 2)), 50)
    fill(settings, days(5, date(2024, 1, 2)), 50, version=1)
    compact(settings, [DAILY])
    vacuum(settings, timedelta(0))
    cols = DAILY.field_names
    con = catalog.open_lake(settings)
    try:
        expected = con.sql(
            f"SELECT {', '.join(cols)} FROM daily ORDER BY ts_code, trade_date"
        ).to_arrow_table()
    finally:
        con.close()
    # After vacuum the files hold each key once: no dedup needed, just the declared schema.
    arrow = ds.dataset(settings.lake_dir / "daily", format="parquet", partitioning="hive").to_table()
    assert (
        arrow.select(cols).sort_by([("ts_code", "ascending"), ("trade_date", "ascending")]).equals(expected)
    )
    frame = pl.scan_parquet(str(settings.lake_dir / "daily" / "year=*" / "*.parquet")).collect()
    assert frame.height == expected.num_rows
