"""`neo demo`: the simulator and the client, end to end, offline, in a few seconds.

Starts the built-in simulator on a free loopback port and makes real calls through the real client:
paging past a row cap, every list status of stock_basic, adjustment factors, versioned statements,
and a burst of calls under 20% injected faults that all succeed.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console

from neo.config import load_settings
from neo.datasets import get
from neo.output import rich_table
from neo.sim.server import SimConfig, running
from neo.sources.quota import QuotaGate
from neo.sources.tushare import TushareClient

START, END = date(2024, 1, 1), date(2024, 12, 31)


def run(stocks: int = 40, console: Console | None = None) -> None:
    console = console or Console()
    # Small caps make paging visible with a small market; the client learns them from settings.
    caps = {"daily": 15, "income_vip": 25}
    config = SimConfig(stocks=stocks, start=START, end=END, seed=7, caps=caps)
    with tempfile.TemporaryDirectory(prefix="neo-demo-") as home, running(config) as server:
        settings = load_settings(
            home=Path(home),
            tushare_url=server.url,
            token="demo-token",
            row_caps=caps,
            backoff_base=0.01,
            timeout=2.0,
        )
        console.rule(f"neo demo: simulator with {stocks} stocks at {server.url}")
        with TushareClient(settings, quota=QuotaGate(settings)) as client:
            _calendar(client, console)
            _universe(client, console)
            _daily(client, console)
            _statements(client, console)
        _faults(stocks, home, console)
        console.rule("done")
        console.print(
            "Next: the lake (Parquet + DuckDB views) arrives with the next issue; "
            "try `neo sim serve` and `neo fetch` meanwhile."
        )


def _calendar(client: TushareClient, console: Console) -> None:
    cal = client.query("trade_cal", {"exchange": "SSE", "start_date": "20240101", "end_date": "20241231"})
    open_days = pc.sum(pc.equal(cal["is_open"], "1")).as_py()
    feb = cal.filter(
        pc.and_(
            pc.greater_equal(cal["cal_date"], date(2024, 2, 8)),
            pc.less_equal(cal["cal_date"], date(2024, 2, 19)),
        )
    ).sort_by("cal_date")
    console.print(f"trade_cal SSE 2024: {cal.num_rows} days, {open_days} open (real calendar)")
    console.print(rich_table(feb, title="Spring Festival 2024: closed 9-18 Feb"))


def _universe(client: TushareClient, console: Console) -> None:
    spec = get("stock_basic")
    counts = {}
    for params in spec.snapshot_calls:
        counts[params["list_status"]] = client.query("stock_basic", params, spec.field_names).num_rows
    console.print(f"stock_basic by list_status (one call each, default is L only): {counts}")


def _daily(client: TushareClient, console: Console) -> None:
    before = client.stats["requests"]
    day = client.query("daily", {"trade_date": "20241231"})
    console.print(
        f"daily 20241231: {day.num_rows} rows in {client.stats['requests'] - before} pages "
        f"of at most {client.row_cap('daily')} rows (the demo's small cap)"
    )
    cols = ["ts_code", "trade_date", "open", "high", "low", "close", "pre_close", "pct_chg", "vol"]
    console.print(
        rich_table(day.sort_by("ts_code").select(cols), max_rows=5, title="daily, typed by the spec")
    )
    adj = client.query("adj_factor", {"start_date": "20240101", "end_date": "20241231"})
    steps = adj.group_by("ts_code").aggregate([("adj_factor", "count_distinct")])
    moved = steps.filter(pc.greater(steps["adj_factor_count_distinct"], 1)).num_rows
    console.print(f"adj_factor 2024: {adj.num_rows} rows; {moved} stocks had an ex-dividend step")


def _statements(client: TushareClient, console: Console) -> None:
    periods = ["20240331", "20240630", "20240930"]
    inc = pa.concat_tables(
        client.query("income_vip", {"period": p}, get("income").field_names) for p in periods
    )
    flags = Counter(inc["update_flag"].to_pylist())
    console.print(
        f"income_vip {', '.join(periods)}: {inc.num_rows} rows (one paged call per period), "
        f"versions by update_flag: {dict(sorted(flags.items()))}"
    )
    cols = ["ts_code", "end_date", "ann_date", "f_ann_date", "update_flag", "total_revenue"]
    restated = inc.filter(pc.equal(inc["update_flag"], "0"))
    if restated.num_rows:
        first = restated.slice(0, 1).to_pylist()[0]
        same = pc.and_(
            pc.equal(inc["ts_code"], first["ts_code"]), pc.equal(inc["end_date"], first["end_date"])
        )
        console.print(
            rich_table(inc.filter(same).select(cols), title="a restated report: both versions kept")
        )


def _faults(stocks: int, home: str, console: Console) -> None:
    config = SimConfig(
        stocks=stocks, start=START, end=END, seed=7, faults=SimConfig.split_fault_rate(0.2), slow_ms=1500
    )
    with running(config) as server:
        settings = load_settings(
            home=Path(home),
            tushare_url=server.url,
            token="demo-token",
            timeout=0.5,
            backoff_base=0.02,
            backoff_max=0.2,
            quota_window=0.2,
            retries=8,
        )
        started = time.perf_counter()
        logging.getLogger("neo.tushare").setLevel(logging.ERROR)  # retries are the point here, not news
        with TushareClient(settings) as client:
            days = [
                d.strftime("%Y%m%d") for d in (date(2024, 12, x) for x in range(2, 32)) if d.weekday() < 5
            ]
            rows = sum(client.query("daily", {"trade_date": d}).num_rows for d in days)
            stats = client.stats
        injected = {
            k.removeprefix("fault_"): v for k, v in server.sim.snapshot().items() if k.startswith("fault_")
        }
        console.print(
            f"20% injected faults: {len(days)} daily calls, all succeeded with {rows} rows in "
            f"{time.perf_counter() - started:.1f}s; faults injected {injected}; client retries "
            f"{stats['retries']}, quota waits {stats['quota_waits']}"
        )
