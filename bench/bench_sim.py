"""Simulator throughput and client overhead, measured side by side in one run.

Starts `neo sim serve` as its own process (so the server and the load generator do not share a GIL)
and measures, each as the median of several rounds:
  - requests/s and rows/s for whole-market `daily` calls (one trading day of N stocks per call),
    with 1, 4 and 8 concurrent client threads using bare httpx + orjson;
  - requests/s for tiny calls (10-row trade_cal), i.e. the protocol's fixed cost;
  - requests/s and rows/s for stk_mins calls of a full 8,000-row reply (one stock, 33 trading days
    of 1min bars, generated per call), and the minute generator's own rows/s in this process, with
    the time both imply for 1,000 stocks x a year of 1min bars (issue 23's goal: not the bottleneck
    of a download);
  - the client's overhead per call: TushareClient.query (retries, paging checks, Arrow typing)
    against a bare httpx POST + orjson.loads of the same call, as a ratio.

Usage: python bench/bench_sim.py [--stocks 5000] [--rounds 5] [--calls 40]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import _support  # noqa: F401  (tests/support on the import path)
import httpx
import numpy as np
import orjson
from _results import save
from tests.support.processes import spawn

from neo.core.config import load_settings
from neo.sim.calendar import open_days
from neo.sim.market import Market
from neo.sim.minutes import daily_of, generate
from neo.sources.tushare import TushareClient


def start_sim(stocks: int) -> tuple[subprocess.Popen[bytes], str]:
    return spawn("--stocks", str(stocks), "--start", "20240101", "--end", "20241231")


def body(api: str, params: dict) -> bytes:
    return orjson.dumps({"api_name": api, "token": "bench", "params": params, "fields": ""})


def bare_call(http: httpx.Client, url: str, payload: bytes) -> int:
    reply = orjson.loads(http.post(url, content=payload).content)
    assert reply["code"] == 0, reply["msg"]
    return len(reply["data"]["items"])


def throughput(url: str, payloads: list[bytes], threads: int) -> tuple[float, float]:
    with httpx.Client(limits=httpx.Limits(max_connections=threads), timeout=60) as http:
        bare_call(http, url, payloads[0])  # warm the connection
        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            rows = sum(pool.map(lambda p: bare_call(http, url, p), payloads))
        elapsed = time.perf_counter() - started
    return len(payloads) / elapsed, rows / elapsed


MIN_WINDOW = 33  # trading days of 1min bars in one 8,000-row stk_mins reply (33 x 241 = 7,953)


def minute_payloads(url: str, days: list[str], calls: int) -> list[bytes]:
    """One stock and one 33-day window per call, stepping through stocks and the year as a
    download of minute bars would."""
    with httpx.Client(timeout=60) as http:
        reply = orjson.loads(http.post(url, content=body("stock_basic", {})).content)
    codes = [row[0] for row in reply["data"]["items"]]
    windows = [(days[k], days[min(k + MIN_WINDOW, len(days)) - 1]) for k in range(0, len(days), MIN_WINDOW)]
    out = []
    for i in range(calls):
        first, last = windows[i % len(windows)]
        params = {
            "ts_code": codes[i % len(codes)],
            "freq": "1min",
            "start_date": f"{first[:4]}-{first[4:6]}-{first[6:]} 00:00:00",
            "end_date": f"{last[:4]}-{last[4:6]}-{last[6:]} 23:59:59",
        }
        out.append(body("stk_mins", params))
    return out


def generator_rate(stocks: int, rounds: int) -> float:
    """Rows/s of the minute generator alone: every stock's 2024 of 1min bars in 33-day pieces, as
    the requests ask for them (median of rounds)."""
    market = Market(stocks, date(2024, 1, 1), date(2024, 12, 31), seed=42)
    dailies = [d for d in (daily_of(market, "stk_mins", c) for c in market.ts_codes) if d is not None]
    rates = []
    for _ in range(rounds):
        made = 0
        started = time.perf_counter()
        for daily in dailies:
            for k in range(0, len(daily.t), MIN_WINDOW):
                window = np.arange(k, min(k + MIN_WINDOW, len(daily.t)))
                made += generate(market.state, daily, window)["vol"].size
        rates.append(made / (time.perf_counter() - started))
    return statistics.median(rates)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stocks", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--calls", type=int, default=40)
    args = ap.parse_args()

    days = [d.strftime("%Y%m%d") for d in open_days(date(2024, 1, 1), date(2024, 12, 31))]
    started = time.perf_counter()
    proc, url = start_sim(args.stocks)
    print(f"simulator ({args.stocks} stocks, 2024) ready in {time.perf_counter() - started:.1f}s at {url}")
    lines = [
        f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
        f"{__import__('os').cpu_count()} cores; median of {args.rounds} rounds",
        "",
    ]
    try:
        daily = [body("daily", {"trade_date": days[i % len(days)]}) for i in range(args.calls)]
        tiny = [body("trade_cal", {"start_date": "20240101", "end_date": "20240110"})] * (args.calls * 5)
        minutes = minute_payloads(url, days, args.calls)
        minute_rps = 0.0
        lines.append("| load | threads | requests/s | rows/s |")
        lines.append("|---|---|---|---|")
        for name, payloads in (
            ("daily, whole market per call", daily),
            ("trade_cal, 10 rows per call", tiny),
            ("stk_mins, one stock x 33 days of 1min bars per call", minutes),
        ):
            for threads in (1, 4, 8):
                runs = [throughput(url, payloads, threads) for _ in range(args.rounds)]
                rps = statistics.median(r[0] for r in runs)
                rows = statistics.median(r[1] for r in runs)
                lines.append(f"| {name} | {threads} | {rps:,.0f} | {rows:,.0f} |")
                print(lines[-1], flush=True)
                if payloads is minutes and threads == 1:
                    minute_rps = rps

        # 1,000 stocks x 2024: 242 open days x 241 bars, in calls of at most 33 days.
        year_rows = 1000 * len(days) * 241
        year_calls = 1000 * -(-len(days) // MIN_WINDOW)
        gen = generator_rate(200, args.rounds)
        lines += [
            "",
            f"minute generator alone (200 stocks x 2024, 33-day pieces, in process): {gen:,.0f} rows/s",
            f"1,000 stocks x 2024 of 1min bars ({year_rows / 1e6:.1f}M rows, {year_calls:,} calls): "
            f"generation {year_rows / gen:.0f} s; through HTTP with one client thread "
            f"{year_calls / minute_rps:.0f} s (Tushare's own 500 calls/min would take "
            f"{year_calls / 500:.0f} min)",
        ]
        print("\n".join(lines[-2:]), flush=True)

        with tempfile.TemporaryDirectory() as home:
            settings = load_settings(
                home=Path(home),
                tushare_url=url,
                token="bench",
                default_quota=0,
                quotas={"stock_basic": 0},
                row_caps={"daily": 6000},
            )
            with TushareClient(settings) as client, httpx.Client() as http:
                bare_times, client_times = [], []
                for i in range(args.calls * args.rounds // 2):
                    d = days[i % len(days)]
                    t0 = time.perf_counter()
                    bare_call(http, url, body("daily", {"trade_date": d, "limit": 6000, "offset": 0}))
                    t1 = time.perf_counter()
                    table = client.query("daily", {"trade_date": d})
                    t2 = time.perf_counter()
                    bare_times.append(t1 - t0)
                    client_times.append(t2 - t1)
                bare, full = statistics.median(bare_times), statistics.median(client_times)
        lines += [
            "",
            f"client overhead per whole-market daily call ({table.num_rows} rows): bare httpx+orjson "
            f"{bare * 1000:.1f} ms, TushareClient.query {full * 1000:.1f} ms "
            f"(+{(full - bare) * 1000:.1f} ms, ratio {full / bare:.2f}x)",
        ]
        print(lines[-1])
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    save("sim", lines)


if __name__ == "__main__":
    main()
