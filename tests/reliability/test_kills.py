"""Kills: SIGKILL of the fast, slow and maint consumers at random points of their progress, round
after round, each with its round's work unfinished."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from neo.core.config import Settings
from neo.datasets import DATASETS, DatasetSpec
from neo.lake import manifest
from neo.pipeline.container import AppContainer
from neo.pipeline.queues import QueuedPipeline
from neo.sim.server import SimHTTPServer
from tests.reliability.common import NEO, env_for, lake_problems, market, neo, settings_of
from tests.reliability.conftest import DATASETS as UNDER_TEST
from tests.reliability.conftest import Scale

DEADLINE = 180.0  # seconds: only for a hung round; no kill waits for time to pass
KINDS = ("fast", "slow", "maint")


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
        f"points of their progress (seed {seed}), new work queued each round, then `neo download`",
        scale.rounds,
        "each consumer SIGKILLed once per round with the round's work unfinished; the re-run exits 0 "
        "with 0 failed; lake = reference (no row lost or duplicated); after compact + vacuum only the "
        "manifest's files remain; `neo verify` passes",
    )
    rng = random.Random(seed)
    server = sim(**vars(market(scale, latency_ms=60)))
    home = tmp_path / "data"
    # No faults here: a call the simulator holds waits for its answer rather than time out, retry
    # and end up recorded as failed.
    env = env_for(server, home, NEO_TIMEOUT="120")
    end = scale.end.strftime("%Y%m%d")
    settings = settings_of(env)
    kills = 0
    for round_ in range(scale.rounds):
        queued = neo("dl", "--refetch", *UNDER_TEST, "--end", end, env=env)  # work for this round
        assert queued.returncode == 0, queued.stderr
        kills += kill_round(round_, rng, server, env, settings, tmp_path, procs)
    assert kills == 3 * scale.rounds
    pending = [e for e in AppContainer(settings).ledger.entries() if e.status != "done"]
    assert pending, "every round finished before its kills: the kills hit no work"
    row.notes.append(f"{kills} kills; {len(pending)} requests unfinished before the re-run")

    done = neo("download", *UNDER_TEST, "--end", end, env=env)
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


def kill_round(
    round_: int,
    rng: random.Random,
    server: SimHTTPServer,
    env: dict[str, str],
    settings: Settings,
    logs: Path,
    procs: list[subprocess.Popen[str]],
) -> int:
    """Start the three consumers on the work queued, kill each at a random point of its progress,
    and return how many were killed (each one still running: none had run out of work)."""
    lake = settings.lake_dir
    with AppContainer(settings) as c, ExitStack() as holds:
        pipeline = QueuedPipeline(c)
        pipeline.maintain()  # compaction and vacuum for the maint consumer to be killed in
        pipeline.sync()
        # Nobody can finish the round's work before being killed, whatever the machine's speed:
        # - the simulator answers `budget` calls, then holds the rest (the plan has hundreds);
        budget = rng.randint(20, 60)
        server.sim.hold(after=budget)
        holds.callback(server.sim.release)
        # - compaction stops at a random dataset it has work in: it needs that dataset's write lock
        #   exclusively to start a new generation, and this test holds it shared (as ingestion
        #   does, which goes on writing meanwhile).
        fresh = [name for name, spec in DATASETS.items() if has_fresh(lake, spec)]
        assert fresh, "no dataset for compaction to work on"
        stop_at = rng.choice(fresh)
        holds.enter_context(manifest.writing(lake, DATASETS[stop_at]))
        compacted_first = fresh.index(stop_at)  # datasets it compacts before it stops

        # Where each one is killed: after a random number of calls answered (fast), of requests
        # done (slow), of manifest writes once it has taken `maintain` off its queue (maint).
        at = {
            "fast": rng.randint(1, budget),
            "slow": rng.randint(1, budget // 2),
            "maint": rng.randint(0, 2 * compacted_first),
        }
        started, writes = time.time(), manifest_writes(lake)

        def done() -> int:
            return sum(1 for e in c.ledger.entries(status="done") if (e.finished_at or 0) >= started)

        def progress(kind: str) -> int | None:
            if kind == "fast":
                return server.sim.held()[0]
            if kind == "slow":
                return done()
            if pipeline.queues.depths()["maint"] > 0:
                return None  # `maintain` not taken yet
            return manifest_writes(lake) - writes

        consumers = {}
        for kind in KINDS:
            log = holds.enter_context((logs / f"dp-{kind}-{round_}.log").open("w"))
            consumers[kind] = subprocess.Popen(
                [*NEO, "dp", kind, "--workers", "3"], env=env, stdout=subprocess.DEVNULL, stderr=log
            )
            procs.append(consumers[kind])
        kills = 0
        deadline = time.monotonic() + DEADLINE
        while consumers:
            for kind, victim in list(consumers.items()):
                reached = progress(kind)
                if reached is None or reached < at[kind]:
                    continue
                if victim.poll() is None:
                    victim.send_signal(signal.SIGKILL)
                    kills += 1
                victim.wait()
                del consumers[kind]
                if kind == "fast" and "slow" in consumers:
                    # Slow can now store only what fast handed over: what it has done, plus its queue
                    # (read in this order, so that a batch moving on in between is not counted twice).
                    reachable = done()
                    at["slow"] = min(at["slow"], reachable + pipeline.queues.depths()["slow"])
            assert time.monotonic() < deadline, f"round {round_}: {sorted(consumers)} not killed, {at}"
            time.sleep(0.02)  # polling interval while waiting for observed progress; the deadline bounds it
        return kills


def has_fresh(lake: Path, spec: DatasetSpec) -> bool:
    """Whether compaction has work in `spec`: files it has not merged yet."""
    state = manifest.read(lake, spec).state
    return bool(manifest.fresh_files(lake, spec, range(state.fresh_from, state.generation + 1)))


def manifest_writes(lake: Path) -> int:
    """The manifests' versions added up: compacting one dataset writes its manifest twice (the new
    generation, then the commit)."""
    return sum(manifest.read(lake, spec).state.version for spec in DATASETS.values())
