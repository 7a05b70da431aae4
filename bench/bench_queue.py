"""The queue pipeline against the simulator, in one run.

A. Quota use: the simulator answers with 100 ms latency and enforces 500 calls/min per API (as
   `--quota 100 --quota-window 12`, the same rate on a shorter window so a run takes minutes, not
   hours). With 1, 4 and 16 fast workers, how many `daily` calls per minute complete, and how many
   did the server refuse? Goal: >= 95% of the quota, zero refusals.
B. Throughput with quotas off: `neo download` of daily + daily_basic + adj_factor for `--stocks`
   stocks over `--years` years, end to end (plan, download, write, sync): rows/s, and where the
   CPU time went (download = HTTP + JSON + Arrow typing + IPC; process; write; the simulator).

Usage: python bench/bench_queue.py [--stocks 5000] [--years 2] [--window 36]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from datetime import date
from pathlib import Path

import _support  # noqa: F401  (tests/support on the import path)
import httpx
from _results import save
from tests.support.processes import spawn

from neo.core.config import load_settings
from neo.datasets import get
from neo.pipeline import runner
from neo.pipeline.container import AppContainer
from neo.pipeline.queues import QueuedPipeline

QUOTA, QUOTA_WINDOW = 100, 12.0  # = 500 calls/min


def sim_stats(url: str) -> dict[str, int]:
    return httpx.get(url + "/_sim/stats").json()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# A dataset of each download strategy whose plan outlasts the measuring window (> 500 calls):
# (dataset, API counted, simulated stocks). dividend is one call per stock, so it needs many.
STRATEGIES = (
    ("daily", "daily", 5),  # calendar_days
    ("index_weight", "index_weight", 5),  # code_windows: 8 indices x 180 months
    ("dividend", "dividend", 800),  # stock_history
)


def quota_use(
    workers: int, window: float, dataset: str = "daily", api: str = "daily", stocks: int = 5
) -> tuple[float, int, int]:
    """(calls/min of `api`, refusals, client quota waits) over `window` seconds of steady state."""
    proc, url = spawn(
        "--stocks",
        str(stocks),
        "--start",
        "20100101",
        "--end",
        "20241231",
        "--latency-ms",
        "100",
        "--quota",
        str(QUOTA),
        "--quota-window",
        str(QUOTA_WINDOW),
    )
    try:
        with tempfile.TemporaryDirectory() as home:
            settings = load_settings(
                home=Path(home),
                tushare_url=url,
                token="bench",
                history_start="20100101",
                default_quota=QUOTA,
                quota_window=QUOTA_WINDOW,
                fast_workers=workers,
                sync_minutes=0,
                quotas={"stock_basic": QUOTA},
            )
            with AppContainer(settings) as container:
                pipeline = QueuedPipeline(container)
                with runner.consumers(pipeline, workers, 2):
                    runner.plan(container, pipeline, [dataset], end=date(2024, 12, 31))
                    time.sleep(QUOTA_WINDOW)  # warm up: the first window starts full
                    before, t0 = sim_stats(url), time.monotonic()
                    time.sleep(window)
                    after, t1 = sim_stats(url), time.monotonic()
                    pipeline.queues.fast.flush()
                waits = container.client.stats["quota_waits"]
        calls = after.get(f"calls_{api}", 0) - before.get(f"calls_{api}", 0)
        return calls / (t1 - t0) * 60, after.get("quota_rejections", 0), waits
    finally:
        proc.terminate()
        proc.wait()


def throughput(stocks: int, years: int) -> dict[str, float]:
    end = date(2024, 12, 31)
    start = date(end.year - years + 1, 1, 1)
    proc, url = spawn("--stocks", str(stocks), "--start", f"{start:%Y%m%d}", "--end", f"{end:%Y%m%d}")
    try:
        sim_cpu0 = cpu_seconds(proc.pid)
        with tempfile.TemporaryDirectory() as home:
            settings = load_settings(
                home=Path(home),
                tushare_url=url,
                token="bench",
                history_start=f"{start:%Y%m%d}",
                default_quota=0,
                quotas={"stock_basic": 0},
                sync_minutes=0,
                fast_workers=4,
                slow_workers=2,
                row_caps={"adj_factor": 6000},
            )
            with AppContainer(settings) as container:
                cpu0 = time.process_time()
                t0 = time.monotonic()
                summary = runner.download(container, ["daily", "daily_basic", "adj_factor"], end=end)
                wall = time.monotonic() - t0
                cpu_total = time.process_time() - cpu0
        sim_cpu = cpu_seconds(proc.pid) - sim_cpu0
    finally:
        proc.terminate()
        proc.wait()
    return {
        "rows": summary.rows,
        "calls": summary.planned,
        "wall": wall,
        "failed": summary.failed,
        "cpu": cpu_total,
        "sim_cpu": sim_cpu,
        **{f"cpu_{k}": v for k, v in summary.cpu.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stocks", type=int, default=5000)
    ap.add_argument("--years", type=int, default=2)
    ap.add_argument("--window", type=float, default=36.0, help="seconds measured per worker count")
    args = ap.parse_args()
    lines = [f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}", ""]
    lines += [
        "| fast workers | daily calls/min | of the 500/min quota | server refusals | client quota waits |",
        "|---|---|---|---|---|",
    ]
    for workers in (1, 4, 16):
        rate, refused, waits = quota_use(workers, args.window)
        lines.append(f"| {workers} | {rate:.0f} | {rate / 500:.1%} | {refused} | {waits} |")
        print(lines[-1], flush=True)
    lines += [
        "",
        "Each download strategy, 4 fast workers:",
        "",
        "| dataset (strategy) | calls/min | of the 500/min quota | server refusals | client quota waits |",
        "|---|---|---|---|---|",
    ]
    for dataset, api, stocks in STRATEGIES:
        rate, refused, waits = quota_use(4, args.window, dataset, api, stocks)
        strategy = get(dataset).strategy
        lines.append(f"| {dataset} ({strategy}) | {rate:.0f} | {rate / 500:.1%} | {refused} | {waits} |")
        print(lines[-1], flush=True)
    r = throughput(args.stocks, args.years)
    split = {k[4:]: v for k, v in r.items() if k.startswith("cpu_")}
    total_split = sum(split.values()) or 1
    lines += [
        "",
        f"End to end, quotas off: {r['calls']:,} calls, {r['rows']:,} rows of daily + daily_basic + "
        f"adj_factor ({args.stocks:,} stocks, {args.years} years) in {r['wall']:.1f}s = "
        f"{r['rows'] / r['wall']:,.0f} rows/s ({r['calls'] / r['wall'] * 60:,.0f} calls/min), "
        f"{r['failed']} failed.",
        f"CPU: neo {r['cpu']:.1f}s ("
        + ", ".join(f"{k} {v:.1f}s = {v / total_split:.0%}" for k, v in split.items())
        + f" of the workers' time), simulator {r['sim_cpu']:.1f}s.",
    ]
    print("\n".join(lines[-3:]))
    save("queue", lines)


if __name__ == "__main__":
    main()
