"""Simulator throughput and client overhead, measured side by side in one run.

Starts `neo sim serve` as its own process (so the server and the load generator do not share a GIL)
and measures, each as the median of several rounds:
  - requests/s and rows/s for whole-market `daily` calls (one trading day of N stocks per call),
    with 1, 4 and 8 concurrent client threads using bare httpx + orjson;
  - requests/s for tiny calls (10-row trade_cal), i.e. the protocol's fixed cost;
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
from pathlib import Path

import httpx
import orjson
from _results import save

from neo.core.config import load_settings
from neo.sim.calendar import open_days
from neo.sim.spawn import spawn
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stocks", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--calls", type=int, default=40)
    args = ap.parse_args()

    from datetime import date

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
        lines.append("| load | threads | requests/s | rows/s |")
        lines.append("|---|---|---|---|")
        for name, payloads in (
            ("daily, whole market per call", daily),
            ("trade_cal, 10 rows per call", tiny),
        ):
            for threads in (1, 4, 8):
                runs = [throughput(url, payloads, threads) for _ in range(args.rounds)]
                rps = statistics.median(r[0] for r in runs)
                rows = statistics.median(r[1] for r in runs)
                lines.append(f"| {name} | {threads} | {rps:,.0f} | {rows:,.0f} |")
                print(lines[-1], flush=True)

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
