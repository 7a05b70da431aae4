"""The research views and macros (neo.lake.research): point-in-time statements against a brute-force
reading of the rule, tradability against the raw tables, membership against brute force, and the
macros through `neo.connect()` on a synced metadata.db."""

from __future__ import annotations

import json
import tempfile
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import neo
from neo.core.config import Settings, load_settings
from neo.datasets import get
from neo.lake.catalog import open_lake, read_files, sync
from neo.lake.engine import profiled_operators
from neo.lake.research import PIT_REPORTS, PRICE_TOLERANCE
from neo.lake.writer import ParquetWriter
from neo.pipeline import runner
from neo.pipeline.container import AppContainer
from tests.conftest import TOKEN, client_settings

END = date(2024, 3, 31)
# Per-day datasets over the last two months (each open day is a call per dataset); reports, their
# restatements and index snapshots over a year.
RECENT = ["stock_basic", "trade_cal", "daily", "adj_factor", "stk_limit", "suspend_d", "namechange"]
LONGER = [
    "index_weight",
    "index_member_all",
    "income",
    "balancesheet",
    "cashflow",
    "fina_indicator",
    "forecast",
    "express",
]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A small simulated market downloaded once; ST spells, suspensions and limit closes are common
    enough in 80 stocks over two months to test each flag."""
    from neo.sim.server import SimConfig, running

    home = tmp_path_factory.mktemp("research-views")
    # The market starts a year early: forecasts and express reports need last year's statements.
    with running(SimConfig(stocks=80, start=date(2022, 1, 1), end=END, seed=21)) as server:
        s = client_settings(
            server,
            home,
            task_retry_delay=0.05,
            sync_minutes=0,
            retries=12,
            fsync=False,
            compact_after_files=0,
        )
        with AppContainer(s) as container:
            assert runner.download(container, datasets=RECENT, start=date(2024, 2, 1), end=END).failed == 0
            assert runner.download(container, datasets=LONGER, start=date(2023, 4, 1), end=END).failed == 0
    yield s


@pytest.fixture(scope="module")
def con(lake: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    c = open_lake(lake)
    yield c
    c.close()


def rows(con: duckdb.DuckDBPyConnection, sql: str, *params: Any) -> list[dict[str, Any]]:
    rel = con.execute(sql, list(params))
    names = [d[0] for d in rel.description]
    return [dict(zip(names, r, strict=True)) for r in rel.fetchall()]


# -- point in time: the property -------------------------------------------------------------------

DAY0 = date(2024, 1, 1)
day = st.integers(0, 12).map(lambda n: DAY0 + timedelta(days=n))
version = st.fixed_dictionaries(
    {
        "ts_code": st.sampled_from(["000001.SZ", "600000.SH"]),
        "end_date": st.sampled_from([date(2023, 9, 30), date(2023, 12, 31)]),
        "report_type": st.sampled_from(["1", "6"]),
        "ann_date": st.one_of(day, day, day, st.none()),  # seldom none
        "f_ann_date": st.one_of(st.none(), day),
        "update_flag": st.sampled_from(["0", "1", None]),
        "n_income_attr_p": st.floats(-1e9, 1e9, allow_nan=False),
    }
)
INCOME_KEY = ("ts_code", "end_date", "report_type", "ann_date", "f_ann_date", "update_flag")


def _known_from(v: dict[str, Any]) -> date | None:
    return v["f_ann_date"] or v["ann_date"]


def brute_force_asof(versions: list[dict[str, Any]], t: date) -> set[tuple[Any, ...]]:
    """The rule read directly: per report, of the versions public by t (known_from <= t), the last
    one: latest known_from, then update_flag '1' over '0' over none, then the rest of the key
    (none first). Keys of the versions known at t."""
    best: dict[tuple[Any, ...], tuple[tuple[Any, ...], tuple[Any, ...]]] = {}
    for v in versions:
        kf = _known_from(v)
        if kf is None or kf > t:
            continue
        rank = (
            kf,
            {None: 0, "0": 1, "1": 2}[v["update_flag"]],
            (v["ann_date"] is not None, v["ann_date"] or DAY0),
            (v["f_ann_date"] is not None, v["f_ann_date"] or DAY0),
        )
        report = (v["ts_code"], v["end_date"], v["report_type"])
        key = tuple(v[k] for k in INCOME_KEY)
        if report not in best or rank > best[report][0]:
            best[report] = (rank, key)
    return {key for _, key in best.values()}


@pytest.fixture(scope="module")
def pit_homes() -> Iterator[Path]:
    """Where each example gets a lake of its own."""
    with tempfile.TemporaryDirectory() as root:
        yield Path(root)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    versions=st.lists(version, min_size=1, max_size=25, unique_by=lambda v: tuple(v[k] for k in INCOME_KEY))
)
def test_income_asof_is_the_last_version_public_by_each_date(
    pit_homes: Path, versions: list[dict[str, Any]]
) -> None:
    s = load_settings(home=pit_homes / uuid.uuid4().hex, token=TOKEN, fsync=False)
    writer = ParquetWriter(s.lake_dir, s.rejected_dir, fsync=False)
    table = pa.Table.from_pylist(versions)
    writer.write(table, get("income"), batch_id=uuid.uuid4().hex, fetched_at=datetime.now(UTC))
    c = open_lake(s)
    superseded_same_day = {
        tuple(r[k] for k in INCOME_KEY)
        for r in rows(c, "SELECT * FROM income_pit WHERE known_to = known_from")
    }
    # Every date from before the first version to after the last, in one query.
    probes = [DAY0 + timedelta(days=n) for n in range(-1, 14)]
    union = " UNION ALL ".join(
        f"SELECT {i} AS probe, * FROM income_asof(DATE '{t}')" for i, t in enumerate(probes)
    )
    by_probe: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in rows(c, union):
        by_probe[r["probe"]].append(r)
    for i, t in enumerate(probes):
        got = by_probe[i]
        keys = {tuple(r[k] for k in INCOME_KEY) for r in got}
        assert len(keys) == len(got)
        assert all(r["known_from"] <= t for r in got), "a row known after t"
        assert all(r["known_to"] is None or t < r["known_to"] for r in got)
        assert keys == brute_force_asof(versions, t), t
        assert not keys & superseded_same_day
        reports = [(r["ts_code"], r["end_date"], r["report_type"]) for r in got]
        assert len(reports) == len(set(reports)), "a report twice"
    for t in probes[::4]:
        fund = rows(c, "SELECT ts_code, end_date, known_from FROM fundamentals_asof(?)", t)
        assert all(r["known_from"] <= t for r in fund)


# -- point in time on a simulated download ---------------------------------------------------------


@pytest.mark.parametrize("name", list(PIT_REPORTS))
def test_pit_intervals_chain_and_end_at_the_latest_version(con: duckdb.DuckDBPyConnection, name: str) -> None:
    report = ", ".join(PIT_REPORTS[name])
    total = con.sql(f"SELECT count(*) FROM {name}").fetchall()[0][0]
    pit = con.sql(f"SELECT count(*) FROM {name}_pit").fetchall()[0][0]
    assert total > 0 and pit == total  # every simulated version has an announcement date
    # Per report: exactly one current version, and each interval ends where another begins.
    bad = con.sql(
        f"SELECT {report} FROM {name}_pit GROUP BY ALL HAVING count(*) FILTER (known_to IS NULL) <> 1"
    ).fetchall()
    assert bad == []
    unchained = con.sql(
        f"SELECT count(*) FROM {name}_pit p WHERE known_to IS NOT NULL AND NOT EXISTS "
        f"(SELECT 1 FROM {name}_pit n WHERE n.known_from = p.known_to AND "
        + " AND ".join(f"n.{c} = p.{c}" for c in PIT_REPORTS[name])
        + ")"
    ).fetchall()[0][0]
    assert unchained == 0
    assert con.sql(f"SELECT count(*) FROM {name}_pit WHERE known_to < known_from").fetchall()[0][0] == 0
    # The simulator restates with '1' on a later date, so the current version is the latest one.
    latest = set(con.sql(f"SELECT {report}, ann_date, update_flag FROM {name}_latest").fetchall())
    current = set(
        con.sql(f"SELECT {report}, ann_date, update_flag FROM {name}_pit WHERE known_to IS NULL").fetchall()
    )
    assert current == latest
    if name != "forecast" and name != "express":
        assert con.sql(f"SELECT count(*) FROM {name}_pit WHERE known_to IS NOT NULL").fetchall()[0][0] > 0


def test_asof_before_a_restatement_shows_the_original(con: duckdb.DuckDBPyConnection) -> None:
    restated = rows(
        con,
        "SELECT ts_code, end_date, report_type, known_from, known_to FROM income_pit "
        "WHERE known_to IS NOT NULL ORDER BY ts_code, end_date, report_type LIMIT 5",
    )
    assert restated
    for r in restated:
        for t, flag in ((r["known_to"] - timedelta(days=1), "0"), (r["known_to"], "1")):
            got = rows(
                con,
                "SELECT update_flag FROM income_asof(?) "
                "WHERE ts_code = ? AND end_date = ? AND report_type = ?",
                t,
                r["ts_code"],
                r["end_date"],
                r["report_type"],
            )
            assert [g["update_flag"] for g in got] == [flag]
        before = rows(
            con,
            "SELECT * FROM income_asof(?) WHERE ts_code = ? AND end_date = ?",
            r["known_from"] - timedelta(days=1),
            r["ts_code"],
            r["end_date"],
        )
        assert before == []


@pytest.mark.parametrize("t", [date(2023, 9, 1), date(2023, 12, 1), date(2024, 3, 31)])
def test_fundamentals_asof_is_each_stocks_latest_report_known(
    con: duckdb.DuckDBPyConnection, t: date
) -> None:
    fund = {r["ts_code"]: r for r in rows(con, "SELECT * FROM fundamentals_asof(?)", t)}
    income = rows(con, "SELECT * FROM income_asof(?) WHERE report_type = '1'", t)
    latest: dict[str, dict[str, Any]] = {}
    for r in income:
        if r["ts_code"] not in latest or r["end_date"] > latest[r["ts_code"]]["end_date"]:
            latest[r["ts_code"]] = r
    assert fund and set(fund) == set(latest)
    balance = {
        (r["ts_code"], r["end_date"]): r
        for r in rows(con, "SELECT * FROM balancesheet_asof(?) WHERE report_type = '1'", t)
    }
    indicator = {
        (r["ts_code"], r["end_date"]): r for r in rows(con, "SELECT * FROM fina_indicator_asof(?)", t)
    }
    for code, f in fund.items():
        i = latest[code]
        assert (f["end_date"], f["known_from"]) == (i["end_date"], i["known_from"])
        assert f["known_from"] <= t
        assert f["n_income_attr_p"] == i["n_income_attr_p"] or f["n_income_attr_p"] is i["n_income_attr_p"]
        b = balance.get((code, i["end_date"]))
        assert f["total_assets"] == (b["total_assets"] if b else None)
        fi = indicator.get((code, i["end_date"]))
        assert f["roe"] == (fi["roe"] if fi else None) or f["roe"] is None


# -- tradability -----------------------------------------------------------------------------------


def test_tradability_agrees_with_the_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    trad = {(r["ts_code"], r["trade_date"]): r for r in rows(con, "SELECT * FROM tradability")}
    adj = {(c, d) for c, d in con.sql("SELECT ts_code, trade_date FROM adj_factor").fetchall()}
    bars = {(r["ts_code"], r["trade_date"]): r for r in rows(con, "SELECT * FROM daily")}
    limits = {(r["ts_code"], r["trade_date"]): r for r in rows(con, "SELECT * FROM stk_limit")}
    lo, hi = min(d for _, d in bars), max(d for _, d in bars)
    # The simulator gives adj_factor a row on every open day of a stock's listed life.
    assert set(trad) == {k for k in adj if lo <= k[1] <= hi}
    assert {k for k, r in trad.items() if r["suspended"]} == {k for k in trad if k not in bars}

    def at(a: float | None, b: float | None) -> bool:
        return a is not None and b is not None and abs(a - b) < PRICE_TOLERANCE

    for k, r in trad.items():
        bar, lim = bars.get(k), limits.get(k)
        up = bool(bar and lim and at(bar["close"], lim["up_limit"]))
        down = bool(bar and lim and at(bar["close"], lim["down_limit"]))
        one = bool(
            bar
            and lim
            and at(bar["high"], bar["low"])
            and (at(bar["high"], lim["up_limit"]) or at(bar["low"], lim["down_limit"]))
        )
        assert (r["up_limit_close"], r["down_limit_close"], r["one_price_limit"]) == (up, down, one), k
    st_periods: dict[str, list[tuple[date, date | None]]] = defaultdict(list)
    for code, name, start, end in con.sql(
        "SELECT ts_code, name, start_date, end_date FROM namechange"
    ).fetchall():
        if name.startswith(("ST", "*ST", "SST", "S*ST")):
            st_periods[code].append((start, end))
    expected_st = {
        (c, d) for c, d in trad if any(s <= d and (e is None or d <= e) for s, e in st_periods.get(c, []))
    }
    assert {k for k, r in trad.items() if r["is_st"]} == expected_st
    # days_listed: open days since the first open day on or after list_date (0 on that day).
    opens = [
        d
        for (d,) in con.sql(
            "SELECT cal_date FROM trade_cal WHERE exchange = 'SSE' AND is_open = '1' ORDER BY 1"
        ).fetchall()
    ]
    listed = dict(con.sql("SELECT ts_code, list_date FROM stock_basic").fetchall())
    index = {d: i for i, d in enumerate(opens)}
    first = {c: next(i for i, d in enumerate(opens) if d >= listed[c]) for c in {c for c, _ in trad}}
    assert all(r["days_listed"] == index[d] - first[c] for (c, d), r in trad.items())
    # The test can fail: every flag is set somewhere and clear somewhere.
    for flag in ("suspended", "up_limit_close", "down_limit_close", "is_st"):
        assert 0 < sum(r[flag] for r in trad.values()) < len(trad), flag


SNAPSHOTS = ("trade_cal", "stock_basic", "namechange")


def test_a_day_slice_reads_one_day_of_each_per_day_dataset(
    lake: Settings, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    """The trade_date filter reaches the scans of daily, stk_limit and suspend_d (pushdown through
    the view): no Parquet scan yields more rows than a day of the market plus the small tables."""
    day = con.sql("SELECT max(trade_date) FROM daily").fetchall()[0][0]
    one_day = con.sql(
        "SELECT max(n) FROM (SELECT count(*) AS n FROM adj_factor GROUP BY trade_date)"
    ).fetchall()[0][0]
    # The snapshot tables are small and read whole, but for the calendar's SSE open days, a
    # filter that reaches its scan: their row counts.
    whole = {
        con.sql(f"SELECT count(*) FROM {read_files(lake.lake_dir, get(t))}").fetchall()[0][0]
        for t in SNAPSHOTS
    } | {con.sql("SELECT count(*) FROM trade_cal WHERE exchange = 'SSE' AND is_open = '1'").fetchall()[0][0]}

    def scans(sql: str) -> list[int]:
        profile = tmp_path / "profile.json"
        con.execute("PRAGMA enable_profiling = 'json'")
        con.execute(f"PRAGMA profiling_output = '{profile}'")
        try:
            con.execute(sql).fetchall()
        finally:
            con.execute("PRAGMA disable_profiling")

        ops = profiled_operators(json.loads(profile.read_text()))
        return [op.rows for op in ops if op.name == "READ_PARQUET"]

    sliced = scans(f"SELECT * FROM tradability WHERE trade_date = DATE '{day}'")
    assert len(sliced) >= 6 and all(n <= one_day or n in whole for n in sliced), (sliced, one_day, whole)
    # The check can fail: without the filter, the per-day scans yield every day.
    full = scans("SELECT * FROM tradability")
    assert not all(n <= one_day or n in whole for n in full)


# -- membership ------------------------------------------------------------------------------------


def test_index_members_asof_is_the_last_snapshot(con: duckdb.DuckDBPyConnection) -> None:
    weights = rows(con, "SELECT * FROM index_weight")
    assert weights
    snapshots: dict[str, set[date]] = defaultdict(set)
    for r in weights:
        snapshots[r["index_code"]].add(r["trade_date"])
    for code, dates in snapshots.items():
        first = min(dates)
        for t in [first - timedelta(days=1), first, *sorted(dates)[1:3], max(dates) + timedelta(days=40)]:
            snap = max((d for d in dates if d <= t), default=None)
            expected = {
                (r["con_code"], r["weight"])
                for r in weights
                if r["index_code"] == code and r["trade_date"] == snap
            }
            got = rows(con, "SELECT * FROM index_members_asof(?, ?)", code, t)
            assert {(r["con_code"], r["weight"]) for r in got} == expected
            assert all(r["trade_date"] == snap and r["index_code"] == code for r in got)


def test_sw_industry_asof_gives_each_stock_one_industry(con: duckdb.DuckDBPyConnection) -> None:
    members = rows(con, "SELECT * FROM index_member_all")
    switches = [r["out_date"] for r in members if r["out_date"] is not None]
    assert switches
    probes = sorted({date(2023, 6, 30), *switches[:5], *(d + timedelta(days=1) for d in switches[:5])})
    for t in probes:
        expected: dict[str, dict[str, Any]] = {}
        for r in members:
            known = r["in_date"] <= t and (r["out_date"] is None or t <= r["out_date"])
            if known and (r["ts_code"] not in expected or r["in_date"] > expected[r["ts_code"]]["in_date"]):
                expected[r["ts_code"]] = r
        got = rows(con, "SELECT * FROM sw_industry_asof(?)", t)
        assert len(got) == len({r["ts_code"] for r in got})
        assert {(r["ts_code"], r["l3_code"], r["in_date"]) for r in got} == {
            (c, r["l3_code"], r["in_date"]) for c, r in expected.items()
        }


# -- through metadata.db ---------------------------------------------------------------------------


def test_the_macros_work_through_neo_connect_on_a_synced_metadata_db(
    lake: Settings, con: duckdb.DuckDBPyConnection
) -> None:
    sync(lake)
    code = con.sql("SELECT min(index_code) FROM index_weight").fetchall()[0][0]
    t = date(2024, 3, 15)
    queries = [
        ("SELECT * FROM income_asof(?) ORDER BY ALL", [t]),
        ("SELECT * FROM forecast_asof(?) ORDER BY ALL", [t]),
        ("SELECT * FROM fundamentals_asof(?) ORDER BY ALL", [t]),
        ("SELECT * FROM index_members_asof(?, ?) ORDER BY ALL", [code, t]),
        ("SELECT * FROM sw_industry_asof(?) ORDER BY ALL", [t]),
        ("SELECT * FROM tradability WHERE trade_date = DATE '2024-03-15' ORDER BY ALL", []),
    ]
    db = neo.connect(lake)  # read-only
    try:
        for sql, params in queries:
            got = db.execute(sql, params).fetchall()
            assert got and got == con.execute(sql, params).fetchall(), sql
        # A string date works too (DuckDB casts it where the macro compares it with a DATE).
        assert db.sql("SELECT count(*) FROM income_asof('2024-03-15')").fetchall()[0][0] > 0
    finally:
        db.close()
