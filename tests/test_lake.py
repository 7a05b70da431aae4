"""The lake on real files: latest wins per key, declared types, atomic files, a sync that never
blocks readers, and files that other engines read without neo."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import neo
from neo import console
from neo.core.config import Settings
from neo.core.errors import SchemaError
from neo.datasets import get
from neo.lake import layout, manifest
from neo.lake.catalog import open_lake, sync
from neo.lake.model import LakeModel
from neo.lake.query import QueryError, run
from neo.lake.writer import ParquetWriter
from neo.pipeline.batch import Batch
from neo.pipeline.container import AppContainer
from neo.pipeline.ingest import download, store
from neo.pipeline.processor import SimpleDataProcessor
from neo.report.status import LakeStatus, dataset_status
from neo.sim.server import SimHTTPServer
from neo.sources.tushare import TushareClient
from neo.strategies import Context
from tests.conftest import client_settings, read_line, wait_until

Sim = Callable[..., SimHTTPServer]
DAILY = get("daily")


def writer_for(settings: Settings) -> ParquetWriter:
    return ParquetWriter(settings.lake_dir, settings.rejected_dir, fsync=settings.fsync)


def ingest(settings: Settings, dataset: str, params: dict | None = None) -> Batch:
    spec = get(dataset)
    with TushareClient(settings) as client:
        batch = download(client, spec, params)
    store(batch, spec, SimpleDataProcessor(), writer_for(settings))
    return batch


def view(settings: Settings, sql: str) -> pa.Table:
    return run(sql, settings)


def test_a_batch_downloaded_twice_shows_once(sim: Sim, tmp_path: Path) -> None:
    settings = client_settings(sim(), tmp_path)
    first = ingest(settings, "daily", {"trade_date": "20240105"})
    ingest(settings, "daily", {"trade_date": "20240105"})
    sync(settings)
    files = list((settings.lake_dir / "daily").glob("year=*/*.parquet"))
    assert len(files) == 2  # both downloads are on disk...
    got = view(settings, "SELECT * FROM daily ORDER BY ts_code")
    assert got.num_rows == first.table.num_rows  # ...and the view shows each key once
    assert got.equals(DAILY.conform(first.table).sort_by("ts_code"))


def test_a_revision_at_the_source_replaces_the_old_values(sim: Sim, tmp_path: Path) -> None:
    settings = client_settings(sim(revise_rate=0.4), tmp_path)
    old = ingest(settings, "daily", {"trade_date": "20240105"}).table.sort_by("ts_code")
    new = ingest(settings, "daily", {"trade_date": "20240105"}).table.sort_by("ts_code")
    changed = sum(a != b for a, b in zip(old.to_pylist(), new.to_pylist(), strict=True))
    assert 0 < changed < old.num_rows
    got = view(settings, "SELECT * FROM daily ORDER BY ts_code")
    assert got.equals(new)


def test_retried_batch_replaces_its_own_file(tmp_path: Path, settings_home: Settings) -> None:
    writer = writer_for(settings_home)
    table = pa.table({"ts_code": ["A", "B"], "trade_date": ["20240102", "20240102"], "close": [1.0, 2.0]})
    batch = Batch("daily", table)
    for _ in range(3):
        writer.write(table, DAILY, batch_id=batch.batch_id, fetched_at=batch.fetched_at)
    assert len(list((settings_home.lake_dir / "daily").glob("year=*/*.parquet"))) == 1


@pytest.fixture
def settings_home(tmp_path: Path) -> Settings:
    from neo.core.config import load_settings

    return load_settings(home=tmp_path / "home")


def write(settings: Settings, table: pa.Table, spec_name: str = "daily", at: datetime | None = None) -> None:
    batch = Batch(spec_name, table, fetched_at=at or datetime.now(UTC))
    store(batch, get(spec_name), SimpleDataProcessor(), writer_for(settings))


def test_null_and_textual_columns_keep_the_declared_types(settings_home: Settings) -> None:
    write(
        settings_home, pa.table({"ts_code": ["A"], "trade_date": ["20240102"], "close": [1.5], "vol": [10.0]})
    )
    write(
        settings_home,
        pa.table(
            {
                "ts_code": ["B"],
                "trade_date": ["20240103"],
                "close": pa.nulls(1),
                "vol": ["12.5"],
                "amount": pa.nulls(1),
            }
        ),
    )
    sync(settings_home)
    con = neo.connect(settings_home)
    types = dict(con.sql("SELECT column_name, column_type FROM (DESCRIBE daily)").fetchall())
    assert types["close"] == "DOUBLE" and types["vol"] == "DOUBLE" and types["trade_date"] == "DATE"
    assert con.sql("SELECT ts_code, close, vol FROM daily ORDER BY 1").fetchall() == [
        ("A", 1.5, 10.0),
        ("B", None, 12.5),
    ]
    for f in (settings_home.lake_dir / "daily").glob("**/*.parquet"):
        assert pq.read_schema(f) == layout.file_schema(DAILY).remove_metadata()


def test_empty_datasets_have_typed_views_and_new_files_appear_at_the_next_sync(
    settings_home: Settings,
) -> None:
    sync(settings_home)
    assert not list(settings_home.lake_dir.rglob("*.parquet"))  # no placeholder files
    con = neo.connect(settings_home)
    assert con.sql("SELECT count(*) FROM weekly").fetchall()[0] == (0,)
    assert (
        dict(con.sql("SELECT column_name, column_type FROM (DESCRIBE weekly)").fetchall())["trade_date"]
        == "DATE"
    )
    write(settings_home, pa.table({"ts_code": ["A"], "trade_date": ["20240105"], "close": [3.0]}), "weekly")
    assert con.sql("SELECT ts_code, close FROM weekly").fetchall() == []  # this connection's file list
    own = open_lake(settings_home)  # neo's own reads: current to the moment
    assert own.sql("SELECT ts_code, close FROM weekly").fetchall() == [("A", 3.0)]
    sync(settings_home)
    assert neo.connect(settings_home).sql("SELECT ts_code, close FROM weekly").fetchall() == [("A", 3.0)]


def test_a_snapshot_is_replaced_as_a_whole(settings_home: Settings) -> None:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    write(settings_home, pa.table({"ts_code": ["A", "B", "C"], "name": ["a", "b", "c"]}), "stock_basic", t0)
    write(
        settings_home,
        pa.table({"ts_code": ["A", "D"], "name": ["a2", "d"]}),
        "stock_basic",
        t0 + timedelta(days=1),
    )
    sync(settings_home)
    assert view(settings_home, "SELECT ts_code, name FROM stock_basic ORDER BY 1").to_pylist() == [
        {"ts_code": "A", "name": "a2"},
        {"ts_code": "D", "name": "d"},
    ]


def test_processor_keeps_null_keys_and_sets_aside_only_what_it_cannot_store() -> None:
    table = pa.table(
        {
            "ts_code": ["A", None, "A", "B", "A", None, "C"],
            "trade_date": ["20240102"] * 6 + [None],
            "close": [1.0, 2, 3, 4, 1.0, 2, 5],
        }
    )
    out, stats = SimpleDataProcessor().process(table, DAILY)
    # A null in the key is a value: that row is stored. The first of a repeated key is stored, its
    # identical copies go (nothing is lost); a different row with its key, and a row without the date
    # that places it in the lake, are set aside with the reason.
    assert out.select(["ts_code", "close"]).to_pylist() == [
        {"ts_code": "A", "close": 1.0},
        {"ts_code": None, "close": 2.0},
        {"ts_code": "B", "close": 4.0},
    ]
    assert (stats.rows_in, stats.copies, stats.rejected_rows, stats.rows_out) == (7, 2, 2, 3)
    (no_date, undated), (repeat, repeated) = stats.rejected
    assert no_date == "1 row has no trade_date" and undated.column("ts_code").to_pylist() == ["C"]
    assert "1 row repeats the key (ts_code, trade_date)" in repeat
    assert repeated.select(["ts_code", "close"]).to_pylist() == [{"ts_code": "A", "close": 3.0}]


def test_rows_set_aside_are_kept_under_rejected_and_named(settings_home: Settings) -> None:
    income = get("income")
    version = {"ts_code": "A", "end_date": "20231231", "report_type": "1", "ann_date": "20240320"}
    table = pa.table(
        {
            k: [v, v, v, v if k != "end_date" else None]
            for k, v in {**version, "update_flag": "1", "revenue": 1.0}.items()
        }
        | {"f_ann_date": [None, "20240320", None, None], "revenue": [1.0, 2.0, 3.0, 4.0]}
    )
    result = store(
        Batch("income", table, {"period": "20231231"}),
        income,
        SimpleDataProcessor(),
        writer_for(settings_home),
    )
    sync(settings_home)
    stored = view(settings_home, "SELECT f_ann_date, revenue FROM income ORDER BY revenue").to_pylist()
    assert stored == [{"f_ann_date": None, "revenue": 1.0}, {"f_ann_date": date(2024, 3, 20), "revenue": 2.0}]
    assert result.problem is not None and "\n" not in result.problem
    assert "1 row has no end_date" in result.problem and "1 row repeats the key" in result.problem
    kept = Path(result.problem.rsplit("kept in ", 1)[1])
    doc = json.loads(kept.read_text())
    assert doc["request"] == {"period": "20231231"} and doc["reason"] in result.problem
    assert sorted(dict(zip(doc["fields"], r, strict=True))["revenue"] for r in doc["items"]) == [3.0, 4.0]


def test_a_reply_with_no_rows_writes_no_file_and_status_explains_older_ones(settings_home: Settings) -> None:
    """A stock that paid no dividend answers no rows: the ledger records that, and no file is
    written (neo status used to show `dividend 0 rows, 12 files`)."""
    writer = writer_for(settings_home)
    for name in ("dividend", "daily", "stock_basic"):
        spec = get(name)
        result = writer.write(spec.schema.empty_table(), spec, batch_id="none", fetched_at=datetime.now(UTC))
        assert result.files == [] and manifest.live_files(settings_home.lake_dir, spec) == []
    # Files an earlier neo wrote for such replies are explained, not left as a puzzle.
    dividend = get("dividend")
    old = settings_home.lake_dir / "dividend" / "g00000001-20240102T000000000000-old.parquet"
    writer.write_file(layout.file_schema(dividend).empty_table(), old)
    with LakeModel(settings_home) as lake:
        shown = dataset_status(Context(lake), dividend)
    assert (shown.files, shown.rows) == (1, 0)
    assert console.status_notes(LakeStatus(settings_home.home, [shown], [], {})) == [
        "dividend: its files (1) hold no rows: calls that returned none, kept as empty files by an earlier "
        "neo (now the ledger alone records such calls); no query sees them"
    ]


def test_a_batch_that_cannot_be_typed_is_kept_not_dropped(settings_home: Settings) -> None:
    bad = pa.table({"ts_code": ["A", "B"], "trade_date": ["20240102"] * 2, "close": ["1.5", "n/a"]})
    batch = Batch("daily", bad, {"trade_date": "20240102"})
    with pytest.raises(
        SchemaError, match=r"daily\.close: .*1 of 2 values, e\.g\. 'n/a'; the reply is kept in"
    ) as err:
        store(batch, DAILY, SimpleDataProcessor(), writer_for(settings_home))
    kept = Path(str(err.value).rsplit("kept in ", 1)[1])
    doc = json.loads(kept.read_text())
    assert (doc["dataset"], doc["request"], doc["batch_id"]) == ("daily", batch.params, batch.batch_id)
    assert doc["reason"] in str(err.value) and doc["fields"] == ["ts_code", "trade_date", "close"]
    assert doc["items"] == [["A", "20240102", "1.5"], ["B", "20240102", "n/a"]]  # as the server sent it
    assert not list((settings_home.lake_dir / "daily").glob("year=*/*.parquet"))


KILLED_WRITER = """
import os, sys, threading, uuid
from datetime import UTC, datetime
import numpy as np, pyarrow as pa, pyarrow.parquet as pq
from neo.datasets import get
from neo.lake.writer import ParquetWriter
from pathlib import Path
lake, stop = Path(sys.argv[1]), sys.argv[2]
n = 200_000
rng = np.random.default_rng(0)
table = pa.table({"ts_code": [f"{i:06d}.SZ" for i in range(n)], "trade_date": ["20240102"] * n,
                  **{c: rng.random(n) for c in ["open", "high", "low", "close", "vol", "amount"]}})

def block(state):
    print(state, flush=True)  # the test kills this process on this line
    threading.Event().wait()

if stop == "before-rename":  # the writer renames its whole temporary file into place: stop just before
    rename = os.replace
    os.replace = lambda src, dst: block("before-rename") if str(src).endswith(".tmp") else rename(src, dst)
if stop == "mid-file":  # stop with half of the rows in the temporary file, no footer yet
    def write_table(t, where, **kw):
        with pq.ParquetWriter(where, t.schema, **kw) as w:
            w.write_table(t.slice(0, t.num_rows // 2))
            block("mid-file")
    pq.write_table = write_table
writer = ParquetWriter(lake, lake / "rejected", fsync=False)
print("ready", flush=True)
while True:
    writer.write(table, get("daily"), batch_id=uuid.uuid4().hex, fetched_at=datetime.now(UTC))
"""


def test_a_writer_killed_mid_file_leaves_no_visible_partial_file(settings_home: Settings) -> None:
    lake = settings_home.lake_dir
    daily = lake / "daily"

    def visible() -> set[Path]:
        return set(daily.glob("year=*/*.parquet"))

    def leftovers() -> set[Path]:
        return set(daily.glob("year=*/.*.tmp"))

    # Each round kills a looping writer at a known point, never after a fixed delay: right before a
    # rename, in the middle of a file, or anywhere in the file after one that appeared complete.
    for stop in ("before-rename", "after-a-file", "mid-file", "after-a-file"):
        seen, left = visible(), leftovers()
        proc = subprocess.Popen(
            [sys.executable, "-c", KILLED_WRITER, str(lake), stop], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        try:
            assert read_line(proc.stdout, 120, "the writer") == "ready"
            if stop == "after-a-file":
                wait_until(lambda seen=seen: len(visible() - seen) >= 1, 120, "a new complete file")
            else:
                assert read_line(proc.stdout, 120, stop) == stop
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        if stop != "after-a-file":  # killed before its first file was visible: none is
            assert visible() == seen, stop
            [tmp] = leftovers() - left
            if stop == "before-rename":
                assert pq.read_metadata(tmp).num_rows == 200_000  # whole, yet invisible
            else:
                assert tmp.stat().st_size > 0
                with pytest.raises(pa.ArrowInvalid):  # a partial file, and invisible
                    pq.read_metadata(tmp)
    assert visible() and leftovers()  # killed mid-file, and some files completed
    for f in visible():
        assert pq.read_table(f).num_rows == 200_000
    sync(settings_home)
    assert view(settings_home, "SELECT count(*) AS n FROM daily").column("n")[0].as_py() == 200_000


HOLDER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == "ro")
print(con.sql("SELECT count(*) FROM daily").fetchall()[0][0], flush=True)
sys.stdin.readline()  # hold the connection until told to go on
print(con.sql("SELECT count(*) FROM daily").fetchall()[0][0], flush=True)
"""


@pytest.mark.parametrize("mode", ["ro", "rw"])
def test_sync_succeeds_while_another_process_holds_metadata_db(settings_home: Settings, mode: str) -> None:
    write(settings_home, pa.table({"ts_code": ["A"], "trade_date": ["20240102"], "close": [1.0]}))
    sync(settings_home)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(settings_home.metadata_db), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdin is not None
    assert holder.stdout.readline().strip() == "1"
    before = settings_home.metadata_db.stat().st_ino
    sync(settings_home)  # must not wait for, fail on, or disturb the holder
    write(settings_home, pa.table({"ts_code": ["B"], "trade_date": ["20240103"], "close": [2.0]}))
    holder.stdin.write("go\n")
    holder.stdin.flush()
    assert holder.stdout.readline().strip() == "1"  # its old views still work, on the files they list
    assert holder.wait(timeout=20) == 0
    assert settings_home.metadata_db.stat().st_ino != before
    sync(settings_home)
    con = duckdb.connect(str(settings_home.metadata_db), read_only=True)  # a new connection: new files
    assert con.sql("SELECT count(*) FROM daily").fetchall()[0][0] == 2


def test_a_stray_file_in_a_dataset_directory_breaks_no_query(settings_home: Settings) -> None:
    """Views read the files the manifest lists, by name: a file of another schema that something
    else put where a glob would have found it (a user's COPY TO, a half-copied backup) is never read."""
    write(settings_home, pa.table({"ts_code": ["A"], "trade_date": ["20231201"], "close": [1.0]}))
    sync(settings_home)
    stray = settings_home.lake_dir / "daily" / "year=2023" / "g00000001-20231202T000000000000-abab.parquet"
    duckdb.sql(f"COPY (SELECT 1 AS x) TO '{stray}' (FORMAT parquet)")
    sync(settings_home)
    assert view(settings_home, "SELECT count(*) AS n FROM daily").column("n")[0].as_py() == 1
    assert open_lake(settings_home).sql("SELECT count(*) FROM daily").fetchall() == [(1,)]
    write(settings_home, pa.table({"ts_code": ["B"], "trade_date": ["20231204"], "close": [2.0]}))
    sync(settings_home)
    assert view(settings_home, "SELECT count(*) AS n FROM daily").column("n")[0].as_py() == 2


def test_views_work_from_any_working_directory(
    settings_home: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(settings_home, pa.table({"ts_code": ["A"], "trade_date": ["20240102"], "close": [1.0]}))
    sync(settings_home)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    con = duckdb.connect(str(settings_home.metadata_db.resolve()), read_only=True)
    assert con.sql("SELECT ts_code FROM daily").fetchall() == [("A",)]


def test_other_engines_read_the_lake_without_neo(sim: Sim, tmp_path: Path) -> None:
    import polars as pl
    import pyarrow.dataset as ds

    settings = client_settings(sim(revise_rate=0.3), tmp_path)
    for day in ("20240102", "20240103", "20240102", "20240104"):
        ingest(settings, "daily", {"trade_date": day})
    ingest(settings, "daily", {"trade_date": "20240103"})
    sync(settings)
    cols = DAILY.field_names
    expected = view(settings, f"SELECT {', '.join(cols)} FROM daily ORDER BY ts_code, trade_date")

    def latest(table: pa.Table) -> pa.Table:
        """Latest version per key, computed without neo: newest _fetched_at first, keep the first."""
        order = table.sort_by(
            [("ts_code", "ascending"), ("trade_date", "ascending"), (layout.FETCHED_AT, "descending")]
        )
        seen: set[tuple] = set()
        rows = []
        for i, key in enumerate(
            zip(order["ts_code"].to_pylist(), order["trade_date"].to_pylist(), strict=True)
        ):
            if key not in seen:
                seen.add(key)
                rows.append(i)
        return order.take(rows).select(cols)

    arrow = ds.dataset(settings.lake_dir / "daily", format="parquet", partitioning="hive").to_table()
    assert arrow.schema.field("year").type in (pa.int32(), pa.int64())  # the hive partition column
    assert latest(arrow).equals(expected)
    frame = pl.scan_parquet(str(settings.lake_dir / "daily" / "year=*" / "*.parquet")).collect()
    assert latest(frame.to_arrow().cast(layout.file_schema(DAILY))).equals(expected)


def test_query_errors_are_one_line(settings_home: Settings) -> None:
    sync(settings_home)
    with pytest.raises(QueryError, match="syntax error") as err:
        run("SELEC 1", settings_home)
    assert "\n" not in str(err.value)
    with pytest.raises(QueryError, match="read-only"):
        run("CREATE TABLE x (a INT)", settings_home)
    assert run("SELECT 42 AS answer", settings_home).to_pylist() == [{"answer": 42}]


def test_connect_reads_the_lake_without_metadata_db_and_writes_none(settings_home: Settings) -> None:
    write(settings_home, pa.table({"ts_code": ["A"], "trade_date": ["20240102"], "close": [1.5]}))
    assert not settings_home.metadata_db.exists()
    before = sorted(p for p in settings_home.home.rglob("*"))
    con = neo.connect(settings_home)
    assert "daily_qfq" in {r[0] for r in con.sql("SHOW TABLES").fetchall()}
    assert con.sql("SELECT ts_code, close FROM daily").fetchall() == [("A", 1.5)]
    assert sorted(p for p in settings_home.home.rglob("*")) == before  # reading never writes
    settings_home.metadata_db.write_bytes(b"not a database")
    assert neo.connect(settings_home).sql("SELECT count(*) FROM daily").fetchall() == [(1,)]
    assert settings_home.metadata_db.read_bytes() == b"not a database"


def test_files_are_sorted_by_key_whatever_order_rows_arrive_in(settings_home: Settings) -> None:
    codes = ["C", "A", "B", "A"]
    dates = ["20240103", "20240103", "20240102", "20240102"]
    write(settings_home, pa.table({"ts_code": codes, "trade_date": dates, "close": [1.0, 2.0, 3.0, 4.0]}))
    write(
        settings_home,
        pa.table({"ts_code": ["A", "B", "C"], "trade_date": ["20240104"] * 3, "close": [5.0] * 3}),
    )
    for f in (settings_home.lake_dir / "daily").glob("year=*/*.parquet"):
        t = pq.read_table(f)
        assert t.equals(t.sort_by([("ts_code", "ascending"), ("trade_date", "ascending")]))


def test_neo_connect_caches_parquet_footers_yet_reads_a_file_written_again(settings_home: Settings) -> None:
    """A retried batch keeps its file name and writes its file again: the footer cache must notice."""
    writer = writer_for(settings_home)
    at = datetime(2024, 1, 2, 9, tzinfo=UTC)
    one = pa.table({"ts_code": ["A"], "trade_date": ["20240102"], "close": [1.0]})
    writer.write(one, DAILY, batch_id="retried", fetched_at=at)
    sync(settings_home)
    con = neo.connect(settings_home)
    assert con.sql("SELECT current_setting('parquet_metadata_cache')").fetchall()[0] == (True,)
    assert con.sql("SELECT ts_code, close FROM daily").fetchall() == [("A", 1.0)]
    two = pa.table({"ts_code": ["A", "B"], "trade_date": ["20240102"] * 2, "close": [1.5, 2.0]})
    writer.write(two, DAILY, batch_id="retried", fetched_at=at)  # same name, other footer
    assert con.sql("SELECT ts_code, close FROM daily ORDER BY ts_code").fetchall() == [("A", 1.5), ("B", 2.0)]


def test_a_lake_from_an_older_neo_is_read_and_its_files_recorded(settings_home: Settings) -> None:
    """Older versions listed fresh files by generation alone, with no record: readers list them
    the old way, and the first writer records them before it writes."""
    at = datetime(2024, 1, 3, tzinfo=UTC)
    old = pa.table({"ts_code": ["A", "B"], "trade_date": ["20240102"] * 2, "close": [1.0, 2.0]})
    write(settings_home, old, at=at - timedelta(days=1))
    shutil.rmtree(manifest.fresh_dir(settings_home.lake_dir, DAILY))  # as an older neo left it
    (settings_home.lake_dir / "daily" / layout.PLACEHOLDER_SUFFIX.join(["g00000002", ""])).write_bytes(b"")
    daily = "SELECT ts_code, close FROM daily ORDER BY 1"
    assert open_lake(settings_home).sql(daily).fetchall() == [("A", 1.0), ("B", 2.0)]
    with AppContainer(settings_home) as c:
        c.writer.write(
            pa.table({"ts_code": ["B"], "trade_date": ["20240102"], "close": [2.5]}),
            DAILY,
            batch_id="newer",
            fetched_at=at,
        )
    recorded = manifest.live(settings_home.lake_dir, DAILY).fresh
    assert len(recorded) == 2 and recorded[0].box is None  # the old file: recorded, box unknown
    assert open_lake(settings_home).sql(daily).fetchall() == [("A", 1.0), ("B", 2.5)]


def test_the_publisher_waits_nine_times_its_last_sync_before_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sync rebuilds every view: during a long download, the writers' changes must not keep a
    core busy syncing. After a sync of t seconds the next starts no sooner than 9t later."""
    from neo.core.config import load_settings
    from neo.lake import catalog

    settings = load_settings(home=tmp_path / "data", publish_delay=0.0)
    started: list[float] = []

    def slow_sync(_: Settings) -> None:
        started.append(time.monotonic())
        # A sync that takes at least 0.1 s: the assertion is a lower bound on the gap, which a
        # loaded machine can only lengthen, so the sleep cannot make this test flaky.
        time.sleep(0.1)

    monkeypatch.setattr(catalog, "sync", slow_sync)
    publisher = catalog.Publisher(settings)
    try:
        publisher.changed()
        wait_until(lambda: publisher.syncs == 1, 30, "the first sync")
        publisher.changed()
        wait_until(lambda: publisher.syncs == 2, 30, "the second sync")
    finally:
        publisher.close()
    assert started[1] - started[0] >= 0.1 + catalog.Publisher.PACE * 0.1
