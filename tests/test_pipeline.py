"""The queue pipeline against the simulator: faults, kills, re-runs, holes, failures, Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from neo.core.config import Settings
from neo.core.dates import BEIJING
from neo.lake.catalog import open_lake
from neo.pipeline import runner
from neo.pipeline.container import AppContainer
from neo.pipeline.planner import Planner
from neo.sim.server import SimHTTPServer
from tests.conftest import CORE_DATASETS, TOKEN, client_settings, wait_until
from tests.support.processes import neo_command

Sim = Callable[..., SimHTTPServer]
START, END = date(2024, 1, 1), date(2024, 2, 29)
FAST = {
    "history_start": "20240101",
    "task_retry_delay": 0.05,
    "sync_minutes": 0,
    "retries": 12,
    "quota_waits": 30,
    "timeout": 0.3,
}


def settings_for(server: SimHTTPServer, home: Path, **extra: Any) -> Settings:
    return client_settings(server, home, **{**FAST, **extra})


def run(settings: Settings, **kwargs: Any) -> runner.Summary:
    with AppContainer(settings) as container:
        return runner.download(container, **{"datasets": list(CORE_DATASETS), "end": END, **kwargs})


def lake_rows(settings: Settings) -> dict[str, list[tuple]]:
    """Every dataset's view, sorted: what an analyst sees."""
    con = open_lake(settings)
    try:
        return {name: con.sql(f"SELECT * FROM {name} ORDER BY ALL").fetchall() for name in CORE_DATASETS}
    finally:
        con.close()


@pytest.fixture
def reference(sim: Sim, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple]]:
    """The lake a clean, fault-free run produces."""
    settings = settings_for(sim(end=END), tmp_path_factory.mktemp("reference"))
    summary = run(settings)
    assert summary.failed == 0 and summary.planned > 100
    return lake_rows(settings)


def test_a_second_download_makes_zero_calls(sim: Sim, tmp_path: Path) -> None:
    server = sim(end=END)
    settings = settings_for(server, tmp_path)
    assert run(settings).planned > 100
    before = server.sim.snapshot()["requests"]
    summary = run(settings)
    assert summary.planned == 0 and server.sim.snapshot()["requests"] == before


def test_a_hole_in_the_middle_is_found_and_refilled(sim: Sim, tmp_path: Path, reference: dict) -> None:
    server = sim(end=END)
    settings = settings_for(server, tmp_path, compact_after_files=0)  # one file per day, to delete one
    run(settings)
    hole = "20240117"
    removed = [f for f in (settings.lake_dir / "daily").glob("year=2024/*.parquet") if _file_day(f) == hole]
    assert len(removed) == 1
    removed[0].unlink()
    with AppContainer(settings) as c:
        planned = Planner(settings, c.ledger).plan(["daily"], end=END)
    assert [(r.dataset, r.params) for r in planned] == [("daily", {"trade_date": hole})]
    assert run(settings).planned == 1
    assert lake_rows(settings) == reference


def _file_day(path: Path) -> str:
    import pyarrow.parquet as pq

    return pq.read_table(path, columns=["trade_date"]).column(0)[0].as_py().strftime("%Y%m%d")


KILLED_DOWNLOAD = """
import sys
from datetime import date
from pathlib import Path
from neo.pipeline.container import AppContainer
from neo.core.config import load_settings
from neo.pipeline import runner
s = load_settings(home=Path(sys.argv[2]), tushare_url=sys.argv[1], token="tok", default_quota=0,
                  quotas={"stock_basic": 0}, history_start="20240101", sync_minutes=0)
with AppContainer(s) as c:
    runner.download(c, sys.argv[3].split(","), end=date(2024, 2, 29))
"""


def done_requests(settings: Settings) -> Callable[[], int]:
    """How many requests the ledger records as done (durably written), read afresh at each call."""
    ledger = AppContainer(settings).ledger
    return lambda: len(ledger.entries(status="done"))


def test_a_killed_run_resumes_with_nothing_lost_or_duplicated(
    sim: Sim, tmp_path: Path, reference: dict
) -> None:
    server = sim(end=END, latency_ms=30)
    settings = settings_for(server, tmp_path)
    done = done_requests(settings)
    for _ in range(2):
        # The simulator answers 30 more calls, then holds the rest: of the 100+ planned calls, the
        # run cannot finish before it is killed, on a fast machine or a slow one.
        server.sim.hold(after=30)
        before = done()
        proc = subprocess.Popen(
            [sys.executable, "-c", KILLED_DOWNLOAD, server.url, str(tmp_path), ",".join(CORE_DATASETS)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until(lambda n=before + 10: done() >= n, 120, "ten more requests done")
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            server.sim.release()
    assert done() >= 20  # the killed runs got somewhere...
    summary = run(settings)
    assert summary.failed == 0 and summary.planned > 0  # ...and the re-run finished the rest
    assert lake_rows(settings) == reference


def test_failures_are_recorded_never_stall_and_retry_on_request(sim: Sim, tmp_path: Path) -> None:
    denied = sim(end=END, deny=frozenset({"daily_basic"}))
    settings = settings_for(denied, tmp_path)
    summary = run(settings)
    days = summary.progress["daily"].total
    assert summary.failed == days == summary.progress["daily_basic"].failed  # only what was denied
    assert all(p.failed == 0 for name, p in summary.progress.items() if name != "daily_basic")
    with AppContainer(settings) as c:
        failed = c.ledger.entries(status="failed")
    assert {e.dataset for e in failed} == {"daily_basic"}
    assert all("no permission" in (e.error or "") for e in failed)
    assert run(settings).planned == 0  # a failure is not retried on every run...
    allowed = sim(end=END)
    summary = run(settings_for(allowed, tmp_path), retry_failed=True)  # ...but on request
    assert (summary.planned, summary.failed) == (days, 0)


def test_planner_waits_for_publication_beijing_time(sim: Sim, tmp_path: Path) -> None:
    settings = settings_for(sim(end=END), tmp_path)
    run(settings, datasets=["trade_cal"])
    with AppContainer(settings) as c:

        def days(dataset: str, now: datetime) -> list[str]:
            plan = Planner(settings, c.ledger, now=now).plan([dataset], end=END)
            return [r.params["trade_date"] for r in plan]

        noon = datetime(2024, 2, 29, 12, 0, tzinfo=BEIJING)
        evening = datetime(2024, 2, 29, 17, 30, tzinfo=BEIJING)
        assert days("daily", noon)[-1] == "20240228" and days("daily", evening)[-1] == "20240229"
        assert days("adj_factor", noon)[-1] == "20240229"  # published before the open
        weekly = days("weekly", evening)
        assert weekly[-1] == "20240223"  # this week ends on Friday 1 March, after END
        assert "20240208" in weekly  # the week before Spring Festival ended on Thursday 8 February
        months = days("monthly", evening)
        assert months == ["20240131", "20240229"]


NEO = neo_command()[0]


def cli_env(server: SimHTTPServer, home: Path, **extra: str) -> dict[str, str]:
    """The environment of a `neo` command run against `server`, isolated from the developer's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEO_") and k != "TUSHARE_TOKEN"}
    return {
        **env,
        "NEO_HOME": str(home),
        "NEO_TUSHARE_URL": server.url,
        "TUSHARE_TOKEN": TOKEN,
        "NEO_HISTORY_START": "20240101",
        "NEO_SYNC_MINUTES": "0",
        "NEO_CONFIG": str(home / "absent.toml"),
        **extra,
    }


def test_redis_queues_with_two_fast_consumers_sharing_one_quota(
    sim: Sim, tmp_path: Path, redis_url: str, reference: dict
) -> None:
    server = sim(end=END, quota=25, quota_window=1.0)
    env = cli_env(
        server,
        tmp_path,
        NEO_QUEUE_URL=redis_url,
        NEO_DEFAULT_QUOTA="25",
        NEO_QUOTA_WINDOW="1.0",
        NEO_QUOTAS__stock_basic="25",
    )
    out = subprocess.run(
        [NEO, "dl", *CORE_DATASETS, "--end", "20240229"], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and "calls queued" in out.stdout, out.stderr
    consumers = [
        subprocess.Popen([NEO, "dp", kind, "--workers", "3"], env=env, stderr=subprocess.DEVNULL)
        for kind in ("fast", "fast", "slow")
    ]
    settings = settings_for(server, tmp_path, queue_url=redis_url)
    try:
        with AppContainer(settings) as c:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                entries = c.ledger.entries()
                if entries and all(e.status != "pending" for e in entries):
                    break
                time.sleep(0.2)
            not_done = [(e.request, e.status, e.error) for e in c.ledger.entries() if e.status != "done"]
            assert not not_done, not_done[:5]
    finally:
        for p in consumers:
            p.send_signal(signal.SIGINT)
        for p in consumers:
            p.wait(timeout=30)
    stats = server.sim.snapshot()
    assert stats.get("quota_rejections", 0) == 0  # two machines' worth of fast workers, one quota
    assert lake_rows(settings) == reference


def test_dl_twice_does_not_queue_the_same_calls_twice(sim: Sim, tmp_path: Path) -> None:
    from neo.core.backends import backend_for
    from neo.pipeline.queues import QueuedPipeline

    settings = settings_for(sim(end=END), tmp_path)
    with AppContainer(settings) as c:
        pipeline = QueuedPipeline(c)
        first = runner.plan(c, pipeline, list(CORE_DATASETS), end=END, queued_ttl=runner.QUEUED_TTL)
        second = runner.plan(c, pipeline, list(CORE_DATASETS), end=END, queued_ttl=runner.QUEUED_TTL)
        assert len(first.requests) > 100 and second.requests == []
        assert pipeline.queues.depths()["fast"] == len(first.requests)
        # What `neo status` shows, read from the queues' file without building the queues.
        assert backend_for(settings).depths(settings) == pipeline.queues.depths()
        # `neo download` owns its embedded queue: it flushes it and plans the pending calls again.
        assert run(settings).planned == len(first.requests)


def test_ctrl_c_stops_cleanly_and_a_rerun_resumes(sim: Sim, tmp_path: Path, reference: dict) -> None:
    server = sim(end=END, latency_ms=40)
    # A held call times out (and waits for a later run) in seconds: the graceful stop never waits long.
    env = cli_env(
        server, tmp_path, NEO_DEFAULT_QUOTA="0", NEO_QUOTAS__stock_basic="0", NEO_TIMEOUT="5", NEO_RETRIES="0"
    )
    settings = settings_for(server, tmp_path)
    done = done_requests(settings)
    server.sim.hold(after=30)  # 30 of the 100+ calls, then the rest wait: Ctrl-C comes first
    proc = subprocess.Popen(
        [NEO, "download", *CORE_DATASETS, "--end", "20240229"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell that starts a job in the background (nohup, `&` in a script) makes it ignore SIGINT,
        # and a child inherits that: give `neo download` the terminal's Ctrl-C whatever ran pytest.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        wait_until(lambda: done() >= 10, 120, "ten requests done")
        proc.send_signal(signal.SIGINT)
        # The graceful stop waits for the calls in flight: answer them, and a few more a worker may
        # take before it sees the stop, but never the whole plan, however long the signal takes.
        server.sim.release(hold_after=20)
        out, err = proc.communicate(timeout=120)
    except BaseException:
        proc.kill()
        raise
    finally:
        server.sim.release()
    assert proc.returncode == 130, err
    assert "interrupted" in out and "Traceback" not in err
    with AppContainer(settings) as c:
        assert c.ledger.entries(status="pending")  # it really stopped before the end
    assert done() >= 10
    summary = run(settings)
    assert summary.failed == 0 and summary.planned > 0
    assert lake_rows(settings) == reference


def test_maint_queue_syncs_metadata_on_its_schedule(tmp_path: Path) -> None:
    from neo.core.config import load_settings
    from neo.pipeline.queues import QueuedPipeline

    settings = load_settings(home=tmp_path, sync_minutes=15)
    with AppContainer(settings) as c:
        maint = QueuedPipeline(c).queues.maint
        due = [t.name for t in maint.read_periodic(datetime(2024, 1, 2, 10, 30))]
        assert due == ["periodic_sync"] and maint.read_periodic(datetime(2024, 1, 2, 10, 31)) == []
        maint.execute(maint.read_periodic(datetime(2024, 1, 2, 10, 45))[0])
    assert settings.metadata_db.exists()
    quiet = load_settings(home=tmp_path, sync_minutes=0)
    with AppContainer(quiet) as c:
        assert QueuedPipeline(c).queues.maint.read_periodic(datetime(2024, 1, 2, 10, 30)) == []
