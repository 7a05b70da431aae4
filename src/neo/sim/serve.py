"""`neo sim serve`: validate the flags, build the market up front, then serve until Ctrl-C."""

from __future__ import annotations

import time

from rich.console import Console

from neo.core.dates import parse_day
from neo.core.errors import UsageError
from neo.protocol.http import serve_until_interrupted
from neo.sim.registry import DATASETS
from neo.sim.server import FAULT_KINDS, SimConfig, SimHTTPServer, Simulator


def build_config(
    *,
    stocks: int,
    start: str,
    end: str,
    seed: int,
    token: str | None,
    quota: int,
    quota_window: float,
    latency_ms: float,
    fault_rate: float,
    faults: dict[str, float],
    slow_ms: float,
    revise_rate: float,
    caps: dict[str, int],
    deny: frozenset[str],
) -> SimConfig:
    first, last = parse_day(start, "--start"), parse_day(end, "--end")
    if last < first:
        raise UsageError(f"--end {end} is before --start {start}")
    merged = {**SimConfig.split_fault_rate(fault_rate), **faults} if fault_rate else dict(faults)
    try:
        return SimConfig(
            stocks=stocks,
            start=first,
            end=last,
            seed=seed,
            token=token,
            quota=quota,
            quota_window=quota_window,
            latency_ms=latency_ms,
            faults=merged,
            slow_ms=slow_ms,
            revise_rate=revise_rate,
            caps=caps,
            deny=deny,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def serve_forever(*, host: str, port: int, **flags: object) -> None:
    config = build_config(**flags)  # type: ignore[arg-type]
    console = Console(stderr=True)
    started = time.perf_counter()
    sim = Simulator(config)
    for ds in DATASETS.values():  # build the bars now, so the first calls are not slow
        if ds.eager:
            sim.tables.get(ds.api)
    try:
        server = SimHTTPServer(sim, host, port)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    faults = ", ".join(f"{k} {v:.0%}" for k, v in config.faults.items() if v) or "none"
    console.print(
        f"neo simulator: {config.stocks} stocks, {config.start:%Y%m%d}-{config.end:%Y%m%d}, "
        f"seed {config.seed}, "
        f"built in {time.perf_counter() - started:.1f}s\n"
        f"  quota {config.quota or 'none'}/{config.quota_window:g}s per API, faults: {faults}, "
        f"revise rate {config.revise_rate:g}\n"
        f"  listening on {server.url}  (try: NEO_TUSHARE_URL={server.url} TUSHARE_TOKEN=demo neo fetch daily "
        f"-p trade_date={config.end:%Y%m%d})",
        highlight=False,
    )
    serve_until_interrupted(server)


__all__ = ["FAULT_KINDS", "build_config", "serve_forever"]
