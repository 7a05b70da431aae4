"""`neo serve` against the simulator on the same data, measured side by side in one run.

Starts `neo sim serve` (N stocks, Q1 2024) as its own process, downloads `daily` (and the calendar)
for the last D trading days into a fresh lake, then starts `neo serve` on that lake as its own
process, three times: reading Parquet for every request (`--cache-mb 0 --months-mb 0`), answering
from the months it keeps in memory (`--cache-mb 0`, the default `--months-mb`: a month is read once,
each request is then put together from it; no reply is reused: the goal's figure), and with its
reply cache too (repeated calls, e.g. a backtest run again). Each server has its own process and
GIL, the load generator another. All answer whole-market `daily` calls (one trade_date: N rows
each), cycling over the D days. Rounds rotate the order of the servers so that machine noise falls
on all; each figure is the median over rounds of requests/s and rows/s with 1 and 4 client threads
(bare httpx + orjson.loads of every reply). Before the rounds, the first request of each month to
the months server (which reads the month) is timed against the same request to the Parquet server.

Usage: python bench/bench_serve.py [--stocks 5000] [--days 20] [--rounds 6] [--calls 40]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import tempfile
import time
from datetime import date
from pathlib import Path

import _support  # noqa: F401  (tests/support on the import path)
import httpx
import orjson
from _results import save
from bench_sim import bare_call as call
from bench_sim import throughput
from tests.support.processes import free_port, neo_command, spawn, wait_for_port

from neo.core.config import load_settings
from neo.pipeline import runner
from neo.pipeline.container import AppContainer
from neo.sim.calendar import open_days

START, END = date(2024, 1, 1), date(2024, 3, 31)


def body(api: str, params: dict) -> bytes:
    return orjson.dumps({"api_name": api, "token": "bench", "params": params, "fields": ""})


PARQUET, MONTHS, CACHED = "neo serve, Parquet", "neo serve, months", "neo serve, reply cache"
# name, --cache-mb, --months-mb (None: the default)
SERVERS = ((PARQUET, 0, 0), (MONTHS, 0, None), (CACHED, 256, None))


def first_request(urls: dict[str, str], payload: bytes) -> tuple[float, float, float]:
    """Milliseconds of a month's first request to the months server, of the same request again,
    and of it from Parquet (best of three)."""
    with httpx.Client(timeout=60) as http:
        call(http, urls[PARQUET], body("trade_cal", {"start_date": "20240101", "end_date": "20240101"}))
        call(http, urls[MONTHS], body("trade_cal", {"start_date": "20240101", "end_date": "20240101"}))
        times = []
        for url in (urls[MONTHS], urls[MONTHS], urls[PARQUET], urls[PARQUET], urls[PARQUET]):
            started = time.perf_counter()
            call(http, url, payload)
            times.append((time.perf_counter() - started) * 1000)
    return times[0], times[1], min(times[2:])


def start_lake(home: Path, cache_mb: int, months_mb: int | None) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "NEO_HOME": str(home), "NEO_CONFIG": str(home / "absent-neo.toml")}
    command = [*neo_command(), "serve", "--port", str(port), "--cache-mb", str(cache_mb)]
    if months_mb is not None:
        command += ["--months-mb", str(months_mb)]
    proc = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    if not wait_for_port(port, 120):
        proc.kill()
        raise RuntimeError("neo serve did not start")
    return proc, f"http://127.0.0.1:{port}/dataapi"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stocks", type=int, default=5000)
    ap.add_argument("--days", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--calls", type=int, default=40)
    args = ap.parse_args()

    days = [d for d in open_days(START, END)][-args.days :]
    started = time.perf_counter()
    sim, sim_url = spawn("--stocks", str(args.stocks), "--start", f"{START:%Y%m%d}", "--end", f"{END:%Y%m%d}")
    print(f"simulator ({args.stocks} stocks) ready in {time.perf_counter() - started:.1f}s at {sim_url}")
    lakes: list[subprocess.Popen[bytes]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp)
            settings = load_settings(
                home=home,
                tushare_url=sim_url,
                token="bench",
                default_quota=0,
                quotas={"stock_basic": 0},
                history_start=f"{days[0]:%Y%m%d}",
                sync_minutes=0,
            )
            started = time.perf_counter()
            with AppContainer(settings) as container:
                summary = runner.download(container, ["trade_cal", "daily"], start=days[0], end=days[-1])
            assert summary.failed == 0
            print(f"lake: daily for {len(days)} days downloaded in {time.perf_counter() - started:.1f}s")
            urls = {"simulator": f"{sim_url}/dataapi"}
            for name, cache_mb, months_mb in SERVERS:
                proc, urls[name] = start_lake(home, cache_mb, months_mb)
                lakes.append(proc)
            cycle = [f"{days[i % len(days)]:%Y%m%d}" for i in range(args.calls)]
            payloads = [body("daily", {"trade_date": d}) for d in cycle]
            firsts = {f"{d:%Y%m}": body("daily", {"trade_date": f"{d:%Y%m%d}"}) for d in reversed(days)}
            cold = {month: first_request(urls, payload) for month, payload in sorted(firsts.items())}
            runs: dict[tuple[str, int], list[tuple[float, float]]] = {}
            load = [os.getloadavg()[0]]
            for r in range(args.rounds):
                order = list(urls)[r % len(urls) :] + list(urls)[: r % len(urls)]
                for threads in (1, 4):
                    for name in order:
                        runs.setdefault((name, threads), []).append(throughput(urls[name], payloads, threads))
                load.append(os.getloadavg()[0])
                print(f"round {r + 1}/{args.rounds} done", flush=True)
    finally:
        for proc in [*lakes, sim]:
            proc.terminate()
            proc.wait(timeout=10)

    lines = [
        f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} cores; whole-market daily ({args.stocks} stocks per trade_date, {len(days)} days "
        f"cycled, {args.calls} calls per measure); median of {args.rounds} interleaved rounds; 1-minute load "
        f"average {min(load):.1f} to {max(load):.1f} during the rounds",
        "",
        "| server | threads | requests/s | rows/s |",
        "|---|---|---|---|",
    ]
    for (name, threads), values in sorted(runs.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        rps = statistics.median(v[0] for v in values)
        rows = statistics.median(v[1] for v in values)
        lines.append(f"| {name} | {threads} | {rps:,.1f} | {rows:,.0f} |")
    lines.append("")

    def median_rps(name: str, threads: int) -> float:
        return statistics.median(v[0] for v in runs[(name, threads)])

    for threads in (1, 4):
        for name, _, _ in SERVERS:
            ratio = median_rps(name, threads) / median_rps("simulator", threads)
            lines.append(f"- {threads} thread(s): {name} / simulator = {ratio:.2f}x")
    met = all(median_rps(MONTHS, t) >= median_rps("simulator", t) for t in (1, 4))
    lines.append(
        f"- goal, neo serve without its reply cache at least the simulator's requests/s: "
        f"{'met' if met else 'not met'}"
    )
    lines.append("")
    for month, (months_ms, again_ms, parquet_ms) in cold.items():
        lines.append(
            f"- first request of {month} (the month is read): {months_ms:.0f} ms; the same again "
            f"{again_ms:.1f} ms; from Parquet {parquet_ms:.1f} ms"
        )
    print("\n".join(lines))
    save("serve", lines)


if __name__ == "__main__":
    main()
