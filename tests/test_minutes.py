"""Minute bars end to end: stk_mins and idx_mins (and another freq) download from the simulator
through their strategy, read through their views with one row per key, show no gaps in `neo
status`, pass `neo verify` (their bars add up to the daily bars), and a re-run plans nothing. The
research macros equal what the API itself answers; gaps, holes and days unlike daily are named by
day; the plan is incremental, refills what the lake lost and stays opt-in."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neo.core.config import Settings
from neo.core.errors import UsageError
from neo.datasets import DATASETS, MINUTE_BARS, get
from neo.datasets.spec import rows_to_table
from neo.lake import manifest
from neo.lake.catalog import open_lake
from neo.lake.writer import ParquetWriter
from neo.pipeline import runner
from neo.pipeline.container import AppContainer
from neo.pipeline.planner import Planner
from neo.report.status import status
from neo.report.verify import check_lake
from neo.sim.server import SimHTTPServer
from neo.sources.errors import PagingError
from neo.sources.tushare import TushareClient
from tests.conftest import client_settings

Sim = Callable[..., SimHTTPServer]
START, END = date(2024, 1, 1), date(2024, 4, 30)
INDICES = ["000300.SH", "000905.SH"]
MINUTES = ("stk_mins", "stk_mins_5min", "idx_mins")
REFERENCE = ("trade_cal", "stock_basic", "daily", "adj_factor", "index_daily")
FAST = {"history_start": "20240101", "task_retry_delay": 0.05, "sync_minutes": 0, "compact_after_files": 0}


def settings_for(server: SimHTTPServer, home: Path, stocks: list[str], **extra: Any) -> Settings:
    return client_settings(
        server,
        home,
        **{**FAST, "minute_stocks": stocks, "minute_indices": INDICES, "indices": INDICES, **extra},
    )


def download(settings: Settings, datasets: list[str], end: date = END, **kw: Any) -> runner.Summary:
    with AppContainer(settings) as container:
        return runner.download(container, datasets=datasets, end=end, **kw)


def plan(settings: Settings, datasets: list[str], end: date = END, **kw: Any) -> list:
    with AppContainer(settings) as container:
        return Planner(settings, container.ledger, **kw).plan(datasets, end=end)


def codes_of(server: SimHTTPServer, n: int) -> list[str]:
    """`n` stocks of the simulated market listed before START (a whole history each), and one listed
    during the range (a window cut by its listing)."""
    names, rows = server.sim.expected("stock_basic", {"list_status": "L"})
    at = names.index("list_date")
    old = sorted(r[0] for r in rows if r[at] < "20231201")
    new = sorted(r[0] for r in rows if "20240201" <= r[at] <= "20240331")
    return old[:n] + new[:1]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Three stocks' and two indices' minute bars over four months, at 1min (and 5min for the
    stocks), with the daily data they add up to: downloaded once."""
    from neo.sim.server import SimConfig, running

    with running(SimConfig(stocks=30, start=date(2023, 6, 1), end=END, seed=11)) as server:
        codes = codes_of(server, 2)
        settings = settings_for(server, tmp_path_factory.mktemp("minutes"), codes)
        summary = download(settings, [*REFERENCE, *MINUTES])
        assert summary.failed == 0 and summary.rows > 0
        yield settings, server, codes


def test_minute_datasets_are_a_dataset_per_freq_typed_and_keyed_by_bar_end() -> None:
    for api in ("stk_mins", "idx_mins"):
        specs = [s for s in DATASETS.values() if s.api == api]
        assert sorted(s.freq for s in specs) == sorted(MINUTE_BARS)
        for s in specs:
            assert s.key == ("ts_code", "trade_time") and s.date_column == "trade_time"
            assert s.schema.field("trade_time").type == pa.timestamp("us")  # naive: Beijing wall time
            assert s.schema.field("vol").type == pa.int64()  # shares
    assert get("stk_mins").freq == "1min" and get("idx_mins_60min").freq == "60min"


@pytest.mark.parametrize("name", MINUTES)
def test_each_minute_dataset_reads_typed_with_one_row_per_key_and_whole_days(lake: Any, name: str) -> None:
    settings, _server, codes = lake
    spec = get(name)
    con = open_lake(settings)
    try:
        rows, keys = con.sql(
            f"SELECT count(*), count(DISTINCT (ts_code, trade_time)) FROM {name}"
        ).fetchall()[0]
        per_day = con.sql(
            f"SELECT DISTINCT count(*) FROM {name} GROUP BY ts_code, CAST(trade_time AS DATE)"
        ).fetchall()
        typed = con.sql(f"SELECT * FROM {name}").limit(0).to_arrow_table().schema
        held = {r[0] for r in con.sql(f"SELECT DISTINCT ts_code FROM {name}").fetchall()}
    finally:
        con.close()
    assert rows > 0 and rows == keys
    assert per_day == [(MINUTE_BARS[spec.freq or ""],)]  # every day whole: 241 1min bars, 49 5min bars
    assert pa.schema([typed.field(f.name) for f in spec.fields]).equals(spec.schema)
    assert held == (set(INDICES) if spec.api == "idx_mins" else set(codes))


def test_the_lake_holds_what_the_api_answers(lake: Any) -> None:
    """The bars of each code, as the simulator answers one call for the whole range."""
    settings, server, codes = lake
    con = open_lake(settings)
    try:
        for api, code in (("stk_mins", codes[0]), ("stk_mins", codes[-1]), ("idx_mins", INDICES[0])):
            params = {
                "ts_code": code,
                "freq": "1min",
                "start_date": f"{START} 00:00:00",
                "end_date": f"{END} 23:59:59",
            }
            names, items = server.sim.expected(api, params)
            expected = rows_to_table(names, items, get(api)).sort_by([("trade_time", "ascending")])
            got = con.sql(
                f"SELECT * FROM {api} WHERE ts_code = '{code}' ORDER BY trade_time"
            ).to_arrow_table()
            assert got.num_rows == expected.num_rows > 0
            assert got.to_pylist() == expected.select(got.column_names).to_pylist(), code
    finally:
        con.close()


def test_status_and_verify_find_nothing_missing_and_a_rerun_plans_nothing(lake: Any) -> None:
    settings, _, codes = lake
    result = status(settings)
    datasets, failed = result.datasets, result.failed
    health = {h.dataset: h for h in check_lake(settings, list(MINUTES))}
    by_name = {d.dataset: d for d in datasets}
    assert not failed
    for name in MINUTES:
        assert by_name[name].rows > 0 and by_name[name].missing == [], by_name[name].missing[:3]
        assert health[name].ok, health[name]
    assert "stk_mins_15min" not in by_name  # opt-in, not asked for, holds nothing: not listed
    # Four months of each old stock: units by code and month.
    assert {u.label for u in by_name["stk_mins"].coverage} >= {
        f"{codes[0]} 2024{m:02d}" for m in (1, 2, 3, 4)
    }
    assert plan(settings, list(MINUTES)) == []


def test_macros_equal_the_apis_own_n_minute_bars(lake: Any) -> None:
    """stk_mins_bars(n) and idx_mins_bars(n) from 1min bars equal the API's 5/15/30/60min bars."""
    settings, server, codes = lake
    con = open_lake(settings)
    try:
        for api, code in (("stk_mins", codes[0]), ("idx_mins", INDICES[1])):
            for freq in ("5min", "15min", "30min", "60min"):
                params = {
                    "ts_code": code,
                    "freq": freq,
                    "start_date": "2024-03-01 00:00:00",
                    "end_date": "2024-03-31 23:59:59",
                }
                names, items = server.sim.expected(api, params)
                want = rows_to_table(names, items, get(api)).sort_by([("trade_time", "ascending")])
                n = int(freq.removesuffix("min"))
                got = con.sql(
                    f"SELECT * FROM {api}_bars({n}) WHERE ts_code = '{code}' "
                    "AND trade_time >= DATE '2024-03-01' AND trade_time < DATE '2024-04-01' "
                    "ORDER BY trade_time"
                ).to_arrow_table()
                assert got.num_rows == want.num_rows > 0, (api, freq)
                for column in ("ts_code", "trade_time", "open", "close", "high", "low", "vol"):
                    same = got[column].to_pylist() == want[column].cast(got[column].type).to_pylist()
                    assert same, (freq, column)
                # amounts are sums of fen: equal to the cent
                cents = [[round(a * 100) for a in t["amount"].to_pylist()] for t in (got, want)]
                assert cents[0] == cents[1], freq
    finally:
        con.close()


def test_a_days_vwap_and_adjusted_bars(lake: Any) -> None:
    settings, _, _codes = lake
    con = open_lake(settings)
    try:
        day = "2024-03-05"
        vwap = dict(con.sql(f"SELECT ts_code, vwap FROM stk_mins_vwap(DATE '{day}')").fetchall())
        sums = con.sql(
            "SELECT ts_code, sum(amount) / sum(vol) FROM stk_mins "
            f"WHERE CAST(trade_time AS DATE) = DATE '{day}' GROUP BY ALL"
        ).fetchall()
        assert vwap == pytest.approx(dict(sums)) and len(vwap) >= 2
        # A day's last qfq / hfq close is that day's daily_qfq / daily_hfq close (same factor, same anchor).
        for kind in ("qfq", "hfq"):
            mismatch = con.sql(
                f"SELECT count(*), count(*) FILTER (WHERE abs(m.close - d.close) > 1e-9) FROM "
                f"(SELECT ts_code, CAST(trade_time AS DATE) AS day, arg_max(close, trade_time) AS close "
                f" FROM stk_mins_{kind} GROUP BY ALL) m JOIN daily_{kind} d ON d.ts_code = m.ts_code "
                "AND d.trade_date = m.day"
            ).fetchall()[0]
            assert mismatch[0] > 100 and mismatch[1] == 0, (kind, mismatch)
    finally:
        con.close()


@settings(max_examples=200, deadline=None)
@given(
    minute=st.sampled_from([570, *range(571, 691), *range(781, 901)]),
    n=st.integers(min_value=1, max_value=120),
)
def test_a_bar_ends_where_its_n_minute_bar_ends(minute: int, n: int) -> None:
    """minute_bar_end(t, n): the auction bar stays; any other minute belongs to the first bar end
    at or after it that is a multiple of n minutes into its session, or the session's close."""
    import duckdb

    from neo.lake.minutes import bar_end_macro

    con = duckdb.connect()
    con.execute(f"CREATE MACRO minute_bar_end(t, n) AS {bar_end_macro()}")
    t = datetime(2024, 3, 5) + timedelta(minutes=minute)
    end = con.execute("SELECT minute_bar_end(?, ?)", [t, n]).fetchall()[0][0]
    if minute == 570:
        assert end == t
        return
    start = 570 if minute <= 690 else 780
    into = (end - datetime(2024, 3, 5)).total_seconds() / 60 - start
    assert end >= t and 0 < into <= 120
    assert into % n == 0 or into == 120
    assert into - (minute - start) < n  # the first such end


def test_a_reply_that_reaches_the_cap_is_asked_again_in_halves_never_truncated(
    sim: Sim, tmp_path: Path
) -> None:
    server = sim(stocks=10, start=START, end=END, caps={"stk_mins": 1000})
    settings = client_settings(server, tmp_path, row_caps={"stk_mins": 1000})
    code = codes_of(server, 1)[0]
    params = {
        "ts_code": code,
        "freq": "1min",
        "start_date": "2024-03-01 00:00:00",
        "end_date": "2024-03-29 23:59:59",
    }
    with TushareClient(settings) as client:
        got = client.query("stk_mins", params)
        assert client.stats["splits"] >= 7  # 21 days of 241 bars in pieces of at most 4 days
    names, items = server.sim.expected("stk_mins", params)
    assert got.num_rows == len(items) == 21 * 241  # March 2024: 21 open days
    assert sorted(got["trade_time"].to_pylist()) == sorted(
        rows_to_table(names, items, get("stk_mins"))["trade_time"].to_pylist()
    )
    # One day that does not fit: a clear error, never a short result.
    small = client_settings(server, tmp_path, row_caps={"stk_mins": 200})
    server.sim.config.caps["stk_mins"] = 200
    with TushareClient(small) as client, pytest.raises(PagingError, match="row cap"):
        client.query("stk_mins", {**params, "end_date": "2024-03-01 23:59:59"})


def test_a_grid_larger_than_expected_splits_the_window_through_the_pipeline(sim: Sim, tmp_path: Path) -> None:
    """60min windows are sized for 5 bars a day; with a cap of exactly 5 x days the reply reaches it,
    and the window is split rather than cut: every bar arrives."""
    server = sim(stocks=10, start=START, end=END, caps={"stk_mins": 100})
    code = codes_of(server, 1)[0]
    settings = settings_for(server, tmp_path, [code], row_caps={"stk_mins": 100})
    assert download(settings, ["trade_cal", "stock_basic", "stk_mins_60min"]).failed == 0
    con = open_lake(settings)
    try:
        held = con.sql(
            "SELECT count(*), count(DISTINCT CAST(trade_time AS DATE)) FROM stk_mins_60min"
        ).fetchall()[0]
    finally:
        con.close()
    _names, items = server.sim.expected(
        "stk_mins",
        {"ts_code": code, "freq": "60min", "start_date": f"{START} 00:00:00", "end_date": f"{END} 23:59:59"},
    )
    assert held[0] == len(items) == held[1] * 5


def test_downloads_are_incremental_with_a_short_refresh_and_windows_under_the_cap(
    sim: Sim, tmp_path: Path
) -> None:
    server = sim(stocks=10, start=START, end=END)
    code = codes_of(server, 1)[0]
    settings = settings_for(server, tmp_path, [code])
    assert download(settings, ["trade_cal", "stock_basic", "stk_mins"], end=date(2024, 3, 15)).failed == 0
    first = plan(settings, ["stk_mins"], end=date(2024, 3, 15))
    assert first == []
    later = plan(settings, ["stk_mins"], end=END)
    open_days = _open_days(settings)
    new = [d for d in open_days if date(2024, 3, 15) < d <= END]
    refreshed = [d for d in open_days if d <= date(2024, 3, 15)][-settings.minute_refresh_days :]
    covered = []
    for r in later:
        lo, hi = (date.fromisoformat(r.params[k][:10]) for k in ("start_date", "end_date"))
        days = [d for d in open_days if lo <= d <= hi]
        assert len(days) * 241 <= 8000 and r.rows == len(days) * 241
        covered += days
    assert covered == refreshed + new  # the new days, plus the last two the lake held, once each


def test_a_lost_file_is_planned_again_and_only_its_days(lake: Any, tmp_path: Path) -> None:
    settings, _, codes = lake
    import shutil

    home = tmp_path / "copy"
    shutil.copytree(settings.home, home)
    copy = settings.model_copy(update={"home": home})
    spec = get("stk_mins")
    files = manifest.live(copy.lake_dir, spec).fresh
    lost = next(f for f in files if f.box and f.box.keys and f.box.keys[0] == codes[0])
    (copy.lake_dir / spec.name / lost.rel).unlink()
    planned = plan(copy, ["stk_mins"])
    assert planned and all(r.params["ts_code"] == codes[0] for r in planned)
    lo = min(r.params["start_date"][:10] for r in planned)
    hi = max(r.params["end_date"][:10] for r in planned)
    assert lo <= lost.box.dates[0][:10] and hi >= lost.box.dates[1][:10]


def test_holes_missing_days_and_days_unlike_daily_are_named_by_day(lake: Any, tmp_path: Path) -> None:
    """A day short of the grid, a day without bars and a day whose bars do not add up to its daily
    bar: `neo status` and `neo report` name the first two by day, `neo verify` fails on all three."""
    settings, _, codes = lake
    import shutil

    home = tmp_path / "holes"
    shutil.copytree(settings.home, home)
    copy = settings.model_copy(update={"home": home})
    spec = get("stk_mins")
    con = open_lake(copy)
    try:
        bars = con.sql(
            f"SELECT * FROM stk_mins WHERE ts_code = '{codes[0]}' ORDER BY trade_time"
        ).to_arrow_table()
    finally:
        con.close()
    days = pc.cast(bars["trade_time"], pa.date32())
    short, gone, unlike = date(2024, 2, 6), date(2024, 2, 7), date(2024, 3, 12)
    keep = pc.and_(
        pc.not_equal(days, pa.scalar(gone, pa.date32())), pc.not_equal(days, pa.scalar(short, pa.date32()))
    )
    rebuilt = bars.filter(keep)
    half = bars.filter(pc.equal(days, pa.scalar(short, pa.date32()))).slice(0, 120)
    vol = pc.if_else(
        pc.equal(pc.cast(rebuilt["trade_time"], pa.date32()), pa.scalar(unlike, pa.date32())),
        pc.add(rebuilt["vol"], 100_000),
        rebuilt["vol"],
    )
    rebuilt = pa.concat_tables([rebuilt.set_column(rebuilt.schema.get_field_index("vol"), "vol", vol), half])
    # The stock's files replaced by the rebuilt bars (as if the source had sent them).
    for f in manifest.live(copy.lake_dir, spec).fresh:
        if f.box and f.box.keys and f.box.keys[0] == codes[0]:
            (copy.lake_dir / spec.name / f.rel).unlink()
    ParquetWriter(copy.lake_dir, home / "rejected").write(
        rebuilt, spec, batch_id="holes", fetched_at=datetime.now().astimezone()
    )
    [ds] = [d for d in status(copy).datasets if d.dataset == "stk_mins"]
    [health] = check_lake(copy, ["stk_mins"])
    missing = " ".join(ds.missing)
    assert f"{codes[0]} 20240206 (120/241 bars) 20240207 (none)" in missing
    assert len(ds.missing) == 1  # one stock-month
    assert not health.ok and health.missing == ds.missing
    assert [line.split(":")[0] for line in health.unlike_daily] == [
        f"{codes[0]} 20240206",
        f"{codes[0]} 20240312",
    ]
    assert "vol" in health.unlike_daily[1]


def test_minutes_are_opt_in(sim: Sim, tmp_path: Path) -> None:
    server = sim(stocks=10, start=START, end=END)
    bare = client_settings(server, tmp_path, **FAST)
    with AppContainer(bare) as container:
        runner.ensure_calendar(container, Planner(bare, container.ledger))
    assert not [r for r in plan(bare, []) if get(r.dataset).freq]
    with pytest.raises(UsageError, match="minute_stocks"):
        plan(bare, ["stk_mins"])
    # Asked for: a bare plan includes the freqs of minute_freqs, for the codes chosen.
    code = codes_of(server, 1)[0]
    chosen = bare.model_copy(update={"minute_stocks": [code], "minute_freqs": ["1min", "30min"]})
    names = {r.dataset for r in plan(chosen, [])}
    assert {"stk_mins", "stk_mins_30min"} <= names and not names & {"stk_mins_5min", "idx_mins"}
    # --codes works without the setting.
    with AppContainer(bare) as container:
        requests = Planner(bare, container.ledger).plan(["stk_mins"], end=END, codes=[code])
    assert requests and {r.params["ts_code"] for r in requests} == {code}


def test_index_members_and_all_listed_stocks_choose_the_codes(sim: Sim, tmp_path: Path) -> None:
    server = sim(stocks=30, start=date(2023, 6, 1), end=END)
    settings = settings_for(server, tmp_path, ["index:000300.SH"], indices=["000300.SH"])
    with pytest.raises(UsageError, match="index_weight"):
        plan(settings, ["stk_mins"])
    assert download(settings, ["trade_cal", "stock_basic", "index_weight"]).failed == 0
    con = open_lake(settings)
    try:
        members = {
            r[0]
            for r in con.sql(
                "SELECT con_code FROM index_members_asof('000300.SH', DATE '2024-04-30')"
            ).fetchall()
        }
        listed = {
            r[0]
            for r in con.sql(
                "SELECT ts_code FROM stock_basic WHERE list_date <= DATE '2024-04-30' "
                "AND (delist_date IS NULL OR delist_date > DATE '2024-01-01')"
            ).fetchall()
        }
    finally:
        con.close()
    assert members and {r.params["ts_code"] for r in plan(settings, ["stk_mins"])} == members
    every = settings.model_copy(update={"minute_stocks": ["all"]})
    assert {r.params["ts_code"] for r in plan(every, ["stk_mins"])} == listed


def test_dry_run_shows_the_calls_rows_bytes_and_time_of_a_minute_plan(sim: Sim, tmp_path: Path) -> None:
    server = sim(stocks=10, start=START, end=END)
    codes = codes_of(server, 2)
    settings = settings_for(server, tmp_path, codes, default_quota=500, quota_window=60.0)
    with AppContainer(settings) as container:
        estimate = runner.dry_run(container, ["stk_mins"], end=END)
        assert not container.ledger.entries("stk_mins")
    [cost] = estimate.apis
    life = _life_days(settings, codes)  # open days of each code's listed life in the range
    assert cost.rows == 241 * sum(life)
    assert cost.calls == sum(-(-n // 33) for n in life)  # 33 days of 241 bars fit in 8,000 rows
    assert cost.bytes == pytest.approx(cost.rows * get("stk_mins").bytes_per_row, rel=1e-6)
    assert "on disk" in estimate.line()


def _open_days(settings: Settings) -> list[date]:
    con = open_lake(settings)
    try:
        rows = con.sql("SELECT cal_date FROM trade_cal WHERE exchange = 'SSE' AND is_open = '1' ORDER BY 1")
        return [r[0] for r in rows.fetchall()]
    finally:
        con.close()


def _life_days(settings: Settings, codes: list[str]) -> list[int]:
    con = open_lake(settings)
    try:
        out = []
        for code in codes:
            [(listed,)] = con.sql(f"SELECT list_date FROM stock_basic WHERE ts_code = '{code}'").fetchall()
            out.append(len([d for d in _open_days(settings) if max(START, listed) <= d <= END]))
        return out
    finally:
        con.close()


def test_compaction_sorts_minutes_by_day_then_stock_reading_each_range_from_its_own_files(
    lake: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Minute files are compacted day by day, each day's stocks in order, zstd-compressed; a range
    of the partition reads only the files whose dates it spans, and no row is lost or doubled."""
    import shutil

    import pyarrow.parquet as pq

    from neo.lake import compact as compact_module

    settings, _, _ = lake
    home = tmp_path / "compact"
    shutil.copytree(settings.home, home)
    copy = settings.model_copy(update={"home": home})
    spec = get("stk_mins")
    con = open_lake(copy)
    try:
        before = con.sql("SELECT * FROM stk_mins ORDER BY ts_code, trade_time").to_arrow_table()
    finally:
        con.close()
    read: list[int] = []
    source = compact_module._source
    monkeypatch.setattr(compact_module, "_source", lambda paths: read.append(len(paths)) or source(paths))
    pieces = copy.compact_memory_bytes // 5_000  # as if 5,000 rows filled the memory limit
    monkeypatch.setattr(compact_module, "ROW_MEMORY", pieces)
    [result] = compact_module.compact(copy, [spec])
    inputs = result.partitions[0].files_in
    assert result.partitions[0].files_out > 4 and min(read[1:]) < inputs  # ranges read fewer files than all
    con = open_lake(copy)
    try:
        after = con.sql("SELECT * FROM stk_mins ORDER BY ts_code, trade_time").to_arrow_table()
    finally:
        con.close()
    assert after.equals(before)
    files = sorted(manifest.live_files(copy.lake_dir, spec), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
    rows = pa.concat_tables(pq.read_table(p, columns=["ts_code", "trade_time"]) for p in files)
    order = rows.append_column("day", pc.cast(rows["trade_time"], pa.date32())).sort_by(
        [("day", "ascending"), ("ts_code", "ascending"), ("trade_time", "ascending")]
    )
    assert rows["trade_time"].equals(order["trade_time"]) and rows["ts_code"].equals(order["ts_code"])
    assert {pq.ParquetFile(p).metadata.row_group(0).column(2).compression for p in files} == {"ZSTD"}
