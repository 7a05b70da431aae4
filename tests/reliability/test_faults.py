"""Faults: 30% of replies are injected faults, spread over every kind the simulator has."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from neo.sim.server import SimHTTPServer
from tests.reliability.common import FAULT_KINDS, env_for, lake_problems, market, neo
from tests.reliability.conftest import DATASETS, FULL, Scale


def test_thirty_percent_mixed_faults_leave_the_lake_equal_to_the_reference(
    sim: Callable[..., SimHTTPServer], tmp_path: Path, scale: Scale, record: Callable
) -> None:
    rounds = 3 if FULL else 1
    row = record(
        "30% mixed faults (5xx, slow, malformed, quota, database error), every dataset",
        rounds,
        "`neo download` exits 0 with 0 failed; lake = reference; a second run makes 0 calls",
    )
    injected = 0
    for seed in range(rounds):
        faults = {kind: 0.30 / len(FAULT_KINDS) for kind in FAULT_KINDS}
        server = sim(**vars(market(scale, seed=seed + 1, faults=faults, slow_ms=600)))
        home = tmp_path / f"round{seed}"
        env = env_for(server, home)
        out = neo("download", *DATASETS, "--end", scale.end.strftime("%Y%m%d"), env=env)
        assert out.returncode == 0, out.stderr
        assert " 0 failed" in out.stdout, out.stdout
        stats = server.sim.snapshot()
        injected += sum(v for k, v in stats.items() if k.startswith("fault_"))
        assert all(stats.get(f"fault_{k}", 0) > 0 for k in FAULT_KINDS), stats
        assert stats.get("fault_http_5xx", 0) / stats["requests"] > 0.03  # the rate really was high
        assert lake_problems(home, server, scale.end) == {}
        before = server.sim.snapshot()["requests"]
        again = neo("download", *DATASETS, "--end", scale.end.strftime("%Y%m%d"), env=env)
        assert again.returncode == 0 and "0 calls planned" in again.stdout, again.stdout
        assert server.sim.snapshot()["requests"] == before
    row.notes.append(f"{injected} faults injected")
