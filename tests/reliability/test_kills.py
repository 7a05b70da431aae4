"""Kills: SIGKILL of the fast, slow and maint consumers at random moments, round after round."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from neo.app import AppContainer
from neo.datasets import DATASETS
from neo.lake import manifest
from neo.pipeline.queues import QueuedPipeline
from neo.sim.server import SimHTTPServer
from tests.reliability.common import env_for, lake_problems, market, neo, popen, settings_of
from tests.reliability.conftest import Scale


def test_consumers_killed_at_random_moments_lose_and_duplicate_nothing(
    sim: Callable[..., SimHTTPServer],
    tmp_path: Path,
    scale: Scale,
    record: Callable,
    procs: list[subprocess.Popen[str]],
) -> None:
    seed = 20261121
    row = record(
        "SIGKILL of `neo dp fast`, `dp slow` and `dp maint` (compacting and syncing) at random "
        f"moments (seed {seed}), new work queued each round, then `neo download`",
        scale.rounds,
        "each consumer SIGKILLed once per round while work was queued; the re-run exits 0 with 0 "
        "failed; lake = reference (no row lost or duplicated); after compact + vacuum only the "
        "manifest's files remain; `neo verify` passes",
    )
    rng = random.Random(seed)
    server = sim(**vars(market(scale, latency_ms=60)))
    home = tmp_path / "data"
    env = env_for(server, home)
    end = scale.end.strftime("%Y%m%d")
    settings = settings_of(env)
    kills = 0
    progress = []
    for _ in range(scale.rounds):
        queued = neo("dl", "--refetch", "--end", end, env=env)  # work for this round
        assert queued.returncode == 0, queued.stderr
        with AppContainer(settings) as c:
            pipeline = QueuedPipeline(c)
            pipeline.maintain()  # compaction and vacuum for the maint consumer to be killed in
            pipeline.sync()
        consumers = {kind: popen("dp", kind, "--workers", "3", env=env) for kind in ("fast", "slow", "maint")}
        procs.extend(consumers.values())
        moments = sorted((rng.uniform(0.5, 3.0), kind) for kind in consumers)
        started = time.monotonic()
        for at, kind in moments:
            time.sleep(max(0.0, started + at - time.monotonic()))
            victim = consumers[kind]
            if victim.poll() is None:
                victim.send_signal(signal.SIGKILL)
                kills += 1
            victim.wait()
        with AppContainer(settings) as c:
            progress.append(len(c.ledger.entries(status="done")))
    assert kills == 3 * scale.rounds  # no consumer had exited by itself
    pending = [e for e in AppContainer(settings).ledger.entries() if e.status != "done"]
    assert pending, "every round finished before its kills: the kills hit no work"
    row.notes.append(f"{kills} kills; {len(pending)} requests unfinished before the re-run")

    done = neo("download", "--end", end, env=env)
    assert done.returncode == 0 and " 0 failed" in done.stdout, done.stdout + done.stderr
    assert lake_problems(home, server, scale.end) == {}
    assert neo("compact", env=env).returncode == 0
    assert neo("vacuum", "--older-than", "0s", env=env).returncode == 0
    assert lake_problems(home, server, scale.end) == {}
    for spec in DATASETS.values():
        live = {p.resolve() for p in manifest.live_files(settings.lake_dir, spec)}
        on_disk = {
            p.resolve()
            for p in (settings.lake_dir / spec.name).rglob("*.parquet")
            if not p.name.endswith("-placeholder.parquet")
        }
        assert on_disk == live, spec.name  # nothing orphaned by a killed compaction
    verify = neo("verify", env=env)
    assert verify.returncode == 0, verify.stdout + verify.stderr
