"""Minute bars under the reliability scenarios: faults, SIGKILLs of a download at random points,
and revisions of days' bars at the source. The lake ends equal to the reference built from the
simulator's own bars (reference.py: every stock's listed days, in 33-day windows), and a re-run
after a complete download makes no call."""

from __future__ import annotations

import random
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

from neo.datasets import DATASETS
from neo.lake.catalog import open_lake, read_files
from neo.sim.server import SimHTTPServer, Simulator
from tests.conftest import wait_until
from tests.reliability.common import FAULT_KINDS, NEO, env_for, market, neo, settings_of
from tests.reliability.conftest import FULL, START, Scale
from tests.reliability.reference import compare

MINUTES = ("stk_mins", "idx_mins", *(("stk_mins_5min", "idx_mins_30min") if FULL else ()))
# What the minute plan is made of (the calendar, the stocks' listed lives), and what tells a
# suspension from a gap (daily, index_daily).
BASE = ("trade_cal", "stock_basic", "daily", "index_daily")
DEADLINE = 180.0  # only for a hung run: every wait is for an observable state


def problems(home: Path, sim: Simulator, scale: Scale) -> dict:
    con = open_lake(settings_of({"NEO_HOME": str(home)}))
    try:
        return compare(con, sim, START, scale.end, list(MINUTES))
    finally:
        con.close()


def assert_nothing_planned(server: SimHTTPServer, env: dict[str, str], end: str) -> None:
    before = server.sim.snapshot()["requests"]
    again = neo("download", *MINUTES, "--end", end, env=env)
    assert again.returncode == 0 and "0 calls planned" in again.stdout, again.stdout + again.stderr
    assert server.sim.snapshot()["requests"] == before


def test_minute_downloads_through_thirty_percent_faults_equal_the_reference(
    sim: Callable[..., SimHTTPServer], tmp_path: Path, scale: Scale, record: Callable
) -> None:
    row = record(
        "minute bars: 30% mixed faults (5xx, slow, malformed, quota, database error)",
        1,
        "`neo download` of the minute datasets exits 0 with 0 failed; lake = reference; "
        "`neo verify` passes; a second run makes 0 calls",
    )
    faults = {kind: 0.30 / len(FAULT_KINDS) for kind in FAULT_KINDS}
    server = sim(**vars(market(scale, seed=3, faults=faults, slow_ms=600)))
    home = tmp_path / "data"
    env = env_for(server, home)
    end = scale.end.strftime("%Y%m%d")
    out = neo("download", *BASE, *MINUTES, "--end", end, env=env)
    assert out.returncode == 0 and " 0 failed" in out.stdout, out.stdout + out.stderr
    stats = server.sim.snapshot()
    assert stats.get("calls_stk_mins", 0) > 10 and all(stats.get(f"fault_{k}", 0) for k in FAULT_KINDS)
    assert problems(home, server.sim, scale) == {}
    verify = neo("verify", *MINUTES, env=env)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert_nothing_planned(server, env, end)
    row.notes.append(f"{sum(v for k, v in stats.items() if k.startswith('fault_'))} faults injected")


def test_minute_downloads_killed_at_random_points_lose_and_duplicate_nothing(
    sim: Callable[..., SimHTTPServer],
    tmp_path: Path,
    scale: Scale,
    record: Callable,
    procs: list[subprocess.Popen[str]],
) -> None:
    seed = 20261206
    row = record(
        f"minute bars: SIGKILL of `neo download` after a random number of calls answered (seed {seed}), "
        "round after round, then a download to the end",
        scale.rounds,
        "each run killed with calls still waiting; the last run exits 0 with 0 failed; lake = reference "
        "(no bar lost or twice); a second run makes 0 calls",
    )
    rng = random.Random(seed)
    server = sim(**vars(market(scale, latency_ms=20)))
    home = tmp_path / "data"
    env = env_for(server, home, NEO_TIMEOUT="120")  # a held call waits for its answer
    end = scale.end.strftime("%Y%m%d")
    assert neo("download", *BASE, "--end", end, env=env).returncode == 0
    for round_ in range(scale.rounds):
        # The simulator answers a few calls, then holds the rest: the run cannot finish before the kill.
        server.sim.hold(after=rng.randint(1, 12))
        args = ["download", *MINUTES, "--end", end, *(["--refetch"] if round_ % 2 else [])]
        proc = subprocess.Popen([*NEO, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(proc)
        wait_until(lambda: server.sim.held()[1] > 0, DEADLINE, f"round {round_}: a call held")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=DEADLINE)
        server.sim.release()
    done = neo("download", *MINUTES, "--end", end, env=env)
    assert done.returncode == 0 and " 0 failed" in done.stdout, done.stdout + done.stderr
    assert problems(home, server.sim, scale) == {}
    assert_nothing_planned(server, env, end)
    row.notes.append(f"{scale.rounds} kills")


def test_revised_minute_bars_end_with_their_latest_values_only(
    sim: Callable[..., SimHTTPServer], tmp_path: Path, scale: Scale, record: Callable
) -> None:
    row = record(
        "minute bars: 20% of bars revised each time the source serves a window again; "
        "`neo download --refetch` each round, `neo compact` every other round",
        scale.rounds,
        "after every round lake = reference in the latest revision served (one row per key); after "
        "compact + vacuum the files hold each key once",
    )
    config = market(scale, revise_rate=0.2)
    server = sim(**vars(config))
    home = tmp_path / "data"
    env = env_for(server, home)
    end = scale.end.strftime("%Y%m%d")
    assert neo("download", *BASE, *MINUTES, "--end", end, env=env).returncode == 0
    for round_ in range(1, scale.rounds + 1):
        out = neo("download", "--refetch", *MINUTES, "--end", end, env=env)
        assert out.returncode == 0 and " 0 failed" in out.stdout, out.stderr
        if round_ % 2:
            assert neo("compact", *MINUTES, env=env).returncode == 0
        assert problems(home, server.sim, scale) == {}, f"round {round_}"
    assert server.sim.snapshot().get("revised_rows", 0) > 0
    unrevised = problems(home, Simulator(config), scale)  # generation 0: never served
    assert "stk_mins" in unrevised  # the revisions reached the lake
    assert neo("compact", *MINUTES, env=env).returncode == 0
    assert neo("vacuum", "--older-than", "0s", *MINUTES, env=env).returncode == 0
    settings = settings_of(env)
    con = open_lake(settings)
    try:
        for name in MINUTES:
            on_disk = con.sql(
                f"SELECT count(*) FROM {read_files(settings.lake_dir, DATASETS[name])}"
            ).fetchall()
            assert on_disk == con.sql(f"SELECT count(*) FROM {name}").fetchall(), name
    finally:
        con.close()
    row.notes.append(f"{server.sim.snapshot().get('revised_rows', 0)} bars revised at the source")
