"""`neo demo`: the whole pipeline, offline, in seconds.

Starts the built-in simulator (with 10% injected faults) on a free loopback port and runs
`neo download` against it: the planner plans half a year of a small market, fast workers download
within the quota, slow workers clean and write the Parquet lake under `<NEO_HOME>/demo`, and
metadata.db is synced. Then it compacts the lake and answers a few questions in SQL. Run it twice:
the second run finds nothing to download.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from datetime import date
from pathlib import Path

from rich.console import Console

from neo.console import LiveDownload
from neo.core.config import Settings, load_settings
from neo.core.output import rich_table
from neo.lake.compact import compact
from neo.lake.engine import first_row
from neo.lake.query import connect
from neo.pipeline import runner
from neo.pipeline.container import AppContainer
from neo.sim.server import SimConfig, running

MARKET_START, MARKET_END = date(2024, 1, 1), date(2024, 12, 31)
FIRST_DAY = date(2024, 6, 1)  # ex-dividend season is late May to July


def run(stocks: int = 40, console: Console | None = None) -> Settings:
    console = console or Console()
    home = load_settings().home / "demo"
    config = SimConfig(
        stocks=stocks,
        start=MARKET_START,
        end=MARKET_END,
        seed=7,
        faults=SimConfig.split_fault_rate(0.1),
        slow_ms=400,
    )
    with running(config) as server:
        settings = load_settings(
            home=home,
            tushare_url=server.url,
            token="demo-token",
            history_start=f"{FIRST_DAY:%Y%m%d}",
            timeout=0.25,
            backoff_base=0.01,
            backoff_max=0.1,
            quota_window=0.1,
            retries=10,
            quota_waits=20,
            default_quota=0,
            quotas={"stock_basic": 0},
            task_retry_delay=0.2,
            sync_minutes=0,
        )
        console.rule(f"neo demo: {stocks} simulated stocks, 10% injected faults, lake in {home}")
        logging.getLogger("neo.tushare").setLevel(logging.ERROR)  # retries are expected here, not news
        with AppContainer(settings) as container:
            summary = runner.download(container, end=MARKET_END, progress=LiveDownload(settings, console))
            stats = container.client.stats
        faults = sum(v for k, v in server.sim.snapshot().items() if k.startswith("fault_"))
    if summary.planned == 0:
        console.print(f"nothing to download: the lake is already current (delete {home} to start over)")
    else:
        console.print(
            f"{summary.planned} calls through the fast and slow queues -> {summary.rows:,} rows written as "
            f"Parquet in {summary.seconds:.1f}s; {faults} injected faults absorbed by {stats['retries']} "
            f"retries and {stats['quota_waits']} quota waits; {summary.failed} failed"
        )
    console.print(f"metadata.db synced: {settings.metadata_db}")
    _compact(settings, console)
    _questions(settings, console)
    console.rule("try it")
    neo = _neo_command()
    console.print(
        f'NEO_HOME={home} {neo} query "SELECT * FROM daily_qfq LIMIT 5"\nNEO_HOME={home} {neo} status',
        highlight=False,
    )
    return settings


def _neo_command() -> str:
    """How to run this same `neo` from the user's shell: bare `neo` when the PATH finds this one."""
    script = Path(sys.executable).with_name("neo")
    on_path = shutil.which("neo")
    if on_path and Path(on_path).resolve() == script.resolve():
        return "neo"
    return os.path.relpath(script) if script.resolve().is_relative_to(Path.cwd().resolve()) else str(script)


def _compact(settings: Settings, console: Console) -> None:
    """Compaction as the maint queue runs it nightly: the answers stay the same, the files fewer."""
    count = "SELECT count(*), sum(hash(ts_code, trade_date, close)::HUGEINT) FROM daily"
    con = connect(settings)
    before = first_row(con, count)
    con.close()
    results = [r for r in compact(settings) if r.partitions]
    if not results:
        return
    con = connect(settings)
    same = first_row(con, count) == before
    con.close()
    files_in = sum(p.files_in for r in results for p in r.partitions)
    files_out = sum(p.files_out for r in results for p in r.partitions)
    console.print(
        f"compacted {len(results)} datasets: {files_in} files -> {files_out}, sorted by month and ts_code, "
        f"in {sum(r.seconds for r in results):.1f}s; daily unchanged: {same} "
        "(the replaced files stay until `neo vacuum`)"
    )


# A research question that needs the research datasets: benchmark, membership and tradability.
EXCESS_RETURN = """
WITH members AS (  -- the latest CSI 300 snapshot
    SELECT con_code AS ts_code, weight FROM index_weight
    WHERE index_code = '000300.SH'
      AND trade_date = (SELECT max(trade_date) FROM index_weight WHERE index_code = '000300.SH')
), month AS (
    SELECT trade_date FROM index_daily
    WHERE ts_code = '000300.SH' AND trade_date > (SELECT max(trade_date) FROM index_daily) - INTERVAL 30 DAY
), tradable AS (
    SELECT d.ts_code, d.trade_date, d.pct_chg, i.pct_chg AS index_chg
    FROM daily d
    JOIN members USING (ts_code)
    JOIN month USING (trade_date)
    JOIN index_daily i ON i.ts_code = '000300.SH' AND i.trade_date = d.trade_date
    LEFT JOIN stk_limit l ON l.ts_code = d.ts_code AND l.trade_date = d.trade_date
    WHERE d.close < coalesce(l.up_limit, 'inf'::DOUBLE)
      AND NOT EXISTS (SELECT 1 FROM suspend_d s WHERE s.ts_code = d.ts_code
                      AND s.trade_date = d.trade_date AND s.suspend_type = 'S')
)
SELECT t.ts_code, s.name, round(any_value(m.weight), 2) AS weight, count(*) AS days,
       round(100 * (exp(sum(ln(1 + t.pct_chg / 100))) - 1), 2) AS stock_pct,
       round(100 * (exp(sum(ln(1 + t.index_chg / 100))) - 1), 2) AS index_pct,
       round(stock_pct - index_pct, 2) AS excess_pct
FROM tradable t JOIN members m USING (ts_code) JOIN stock_basic s USING (ts_code)
GROUP BY t.ts_code, s.name ORDER BY excess_pct DESC LIMIT 5
"""


def _questions(settings: Settings, console: Console) -> None:
    con = connect(settings)
    try:
        total, keys = first_row(con, "SELECT count(*), count(DISTINCT (ts_code, trade_date)) FROM daily") or (
            0,
            0,
        )
        console.print(f"daily: {total:,} rows, {keys:,} distinct (ts_code, trade_date): one row per key")
        stock = first_row(
            con,
            "SELECT ts_code, min(trade_date) FILTER (WHERE adj_factor > prev) AS ex_date FROM ("
            " SELECT ts_code, trade_date, adj_factor,"
            "  lag(adj_factor) OVER (PARTITION BY ts_code ORDER BY trade_date) AS prev FROM adj_factor)"
            " GROUP BY ts_code HAVING ex_date IS NOT NULL ORDER BY ts_code LIMIT 1",
        )
        if stock:
            series = con.sql(
                "SELECT d.trade_date, d.close, d.pre_close, q.adj_factor, h.close AS hfq_close, "
                "q.close AS qfq_close FROM daily d JOIN daily_qfq q USING (ts_code, trade_date) "
                "JOIN daily_hfq h USING (ts_code, trade_date) WHERE d.ts_code = $1 "
                "AND d.trade_date BETWEEN $2::DATE - 4 AND $2::DATE + 4 ORDER BY d.trade_date",
                params=[stock[0], stock[1]],
            ).to_arrow_table()
            console.print(
                rich_table(
                    series,
                    title=f"{stock[0]} around its ex-dividend day {stock[1]}: "
                    "raw, hfq and qfq (anchored at the latest factor)",
                )
            )
        top = con.sql(
            "SELECT b.ts_code, s.name, s.industry, d.close, d.pct_chg, round(b.total_mv / 1e4, 1) AS mv_yi, "
            "b.pe_ttm FROM daily_basic b JOIN daily d USING (ts_code, trade_date) "
            "JOIN stock_basic s USING (ts_code) WHERE b.trade_date = (SELECT max(trade_date) FROM daily) "
            "ORDER BY b.total_mv DESC LIMIT 5"
        ).to_arrow_table()
        console.print(rich_table(top, title="cross-section: largest by market value on the last day"))
        restated = con.sql(
            "SELECT i.ts_code, i.end_date, i.f_ann_date, i.update_flag, i.total_revenue, "
            "l.f_ann_date = i.f_ann_date AS in_latest FROM income i JOIN (SELECT * FROM income_latest "
            "WHERE (ts_code, end_date, report_type) IN (SELECT ts_code, end_date, report_type FROM income "
            "WHERE update_flag = '0') ORDER BY ts_code, end_date LIMIT 1) l "
            "USING (ts_code, end_date, report_type) ORDER BY i.f_ann_date"
        ).to_arrow_table()
        console.print(
            rich_table(
                restated,
                title="a restated income statement: every version in income, the latest in income_latest",
            )
        )
        console.print(
            rich_table(
                con.sql(EXCESS_RETURN).to_arrow_table(),
                title="CSI 300 members over the last month: return against the index (compounded, %), "
                "leaving out suspended days and days closed at the up limit (not tradable for a buyer)",
            )
        )
    finally:
        con.close()
