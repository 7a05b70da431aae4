"""The queues' task bodies: a reply that cannot be typed is kept, a request a stopped consumer lost
is planned again at once, and the maint queue's schedule."""

from __future__ import annotations

import errno
import itertools
import json
import subprocess
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import neo
from neo.core.config import Settings
from neo.core.errors import StorageError
from neo.lake.catalog import open_lake, sync
from neo.lake.ledger import Ledger
from neo.lake.writer import ParquetWriter
from neo.pipeline import runner
from neo.pipeline.container import AppContainer
from neo.pipeline.queues import QueuedPipeline
from neo.report import gather
from neo.sim.server import Poison, SimHTTPServer
from tests.conftest import TOKEN, client_settings
from tests.support.processes import neo_command

Sim = Callable[..., SimHTTPServer]
END = date(2024, 2, 29)
BAD_DAY = "20240117"
FAST = {"history_start": "20240101", "sync_minutes": 0, "task_retry_delay": 0.05}


def settings_for(server: SimHTTPServer, home: Path, **extra: Any) -> Settings:
    return client_settings(server, home, **{**FAST, **extra})


def day_rows(settings: Settings, day: str) -> int:
    con = open_lake(settings)
    try:
        return con.sql(
            f"SELECT count(*) FROM daily WHERE trade_date = strptime('{day}', '%Y%m%d')::DATE"
        ).fetchall()[0][0]
    finally:
        con.close()


def test_a_reply_that_cannot_be_typed_is_kept_failed_listed_and_retried(sim: Sim, tmp_path: Path) -> None:
    poisoned = sim(end=END, poison=(Poison("daily", "close", "abc", {"trade_date": BAD_DAY}),))
    settings = settings_for(poisoned, tmp_path)
    with AppContainer(settings) as c:
        summary = runner.download(c, datasets=["daily", "adj_factor"], end=END)
        failed = c.ledger.entries(status="failed")
    assert poisoned.sim.snapshot()["poisoned_replies"] == 1
    # Exactly that request failed; the rest of the plan completed.
    assert [(e.dataset, e.params) for e in failed] == [("daily", {"trade_date": BAD_DAY})]
    assert summary.failed == 1 and summary.progress["daily"].done == summary.progress["daily"].total - 1
    assert summary.progress["adj_factor"].failed == 0
    reason = failed[0].error or ""
    assert "\n" not in reason and "daily.close" in reason and "'abc'" in reason, reason

    # The reply is kept, readable, with its request and the reason.
    kept = list((tmp_path / "rejected" / "daily").glob("*.json"))
    assert len(kept) == 1 and str(kept[0]) in reason
    doc = json.loads(kept[0].read_text())
    assert doc["request"] == {"trade_date": BAD_DAY} and doc["reason"] in reason
    rows = [dict(zip(doc["fields"], item, strict=True)) for item in doc["items"]]
    assert rows[0]["close"] == "abc" and len(rows) > 1
    assert {r["trade_date"] for r in rows} == {"2024-01-17"}
    assert day_rows(settings, BAD_DAY) == 0 and day_rows(settings, "20240118") > 0

    # `neo status` lists it with its reason.
    env = {
        "PATH": str(Path(neo_command()[0]).parent),
        "NEO_HOME": str(tmp_path),
        "NEO_CONFIG": str(tmp_path / "absent.toml"),
        "TUSHARE_TOKEN": TOKEN,
        "COLUMNS": "400",
    }
    status = subprocess.run([*neo_command(), "status"], env=env, capture_output=True, text=True, timeout=60)
    assert status.returncode == 0, status.stderr
    assert BAD_DAY in status.stdout and "abc" in status.stdout, status.stdout

    # Once the source is fixed, --retry-failed fetches it again, and only it.
    fixed = sim(end=END)
    with AppContainer(settings_for(fixed, tmp_path)) as c:
        again = runner.download(c, datasets=["daily", "adj_factor"], end=END, retry_failed=True)
    assert (again.planned, again.failed) == (1, 0)
    assert day_rows(settings, BAD_DAY) == len(rows)  # the kept reply was the whole day


def test_rows_that_cannot_be_stored_are_kept_failed_and_shown(sim: Sim, tmp_path: Path) -> None:
    """A row without the date that places it in the lake, and a row repeating the key of an earlier
    row of its reply with other values: each is kept under rejected/, its request fails (`neo
    download` exits 1, `neo status` and `neo report` list it), and the rest of the reply is stored."""
    end = date(2024, 6, 28)
    _, day = sim(end=end).sim.expected("daily", {"trade_date": BAD_DAY})
    server = sim(
        end=end,
        poison=(
            Poison("income_vip", "end_date", None, {"period": "20240331"}),
            Poison(
                "daily", "ts_code", day[1][0], {"trade_date": BAD_DAY}
            ),  # the first row takes the second's key
        ),
    )
    env = {
        "PATH": str(Path(neo_command()[0]).parent),
        "NEO_HOME": str(tmp_path),
        "NEO_CONFIG": str(tmp_path / "absent.toml"),
        "NEO_TUSHARE_URL": server.url,
        "TUSHARE_TOKEN": TOKEN,
        "NEO_DEFAULT_QUOTA": "0",
        "NEO_QUOTAS__STOCK_BASIC": "0",
        "COLUMNS": "400",
    }
    args = ["download", "income", "daily", "--start", "20240101", "--end", "20240430"]
    done = subprocess.run([*neo_command(), *args], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "2 failed" in done.stdout, done.stdout + done.stderr

    settings = settings_for(server, tmp_path)
    failed = {e.dataset: e for e in Ledger(settings.ledger_path, read_only=True).entries(status="failed")}
    report = gather(settings)
    assert set(failed) == {"income", "daily"}
    assert failed["income"].params == {"period": "20240331"}
    assert "1 row has no end_date" in (failed["income"].error or "")
    assert failed["daily"].params == {"trade_date": BAD_DAY}
    assert "1 row repeats the key (ts_code, trade_date)" in (failed["daily"].error or "")
    for name, entry in failed.items():
        (kept,) = (tmp_path / "rejected" / name).glob("*.json")
        assert str(kept) in (entry.error or "") and "\n" not in (entry.error or "")
        assert len(json.loads(kept.read_text())["items"]) == 1
    assert day_rows(settings, BAD_DAY) == len(day) - 1  # the rest of the day is in the lake
    assert {(f.dataset, f.reason) for f in report.failures} == {(n, e.error) for n, e in failed.items()}

    status = subprocess.run([*neo_command(), "status"], env=env, capture_output=True, text=True, timeout=120)
    assert status.returncode == 0, status.stderr
    assert "1 row has no end_date" in status.stdout and "1 row repeats the key" in status.stdout


def test_a_request_lost_when_dp_slow_meets_a_full_disk_is_planned_again_at_once(
    sim: Sim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(sim(end=END), tmp_path)
    with AppContainer(settings) as c:
        pipeline = QueuedPipeline(c)
        planned = runner.plan(c, pipeline, datasets=["daily"], end=END, queued_ttl=runner.QUEUED_TTL)
        # What `neo dp fast` does with the first task: download, hand the batch to the slow queue.
        fast, slow = pipeline.queues.fast, pipeline.queues.slow
        fast.execute(fast.dequeue())
        task = slow.dequeue()
        lost = task.args[1]

        def full(*args: Any, **kwargs: Any) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(ParquetWriter, "write", full)
        slow.execute(task)  # what `neo dp slow` does: the task is now off the queue, unfinished
        assert isinstance(pipeline.fatal, StorageError)
        assert c.ledger.entries("daily", "pending")  # not failed: a re-run finishes it
        # `neo dl` again right away: everything else is still queued, the lost request is not.
        again = runner.plan(c, pipeline, datasets=["daily"], end=END, queued_ttl=runner.QUEUED_TTL)
    assert len(planned.requests) > 30
    assert [r.params for r in again.requests] == [lost]


def test_sync_runs_every_n_minutes_for_any_n(tmp_path: Path) -> None:
    from neo.core.config import load_settings

    def due_minutes(minutes: int, hours: int) -> list[int]:
        with AppContainer(load_settings(home=tmp_path, sync_minutes=minutes)) as c:
            maint = QueuedPipeline(c).queues.maint
            start = datetime(2024, 1, 2, 0, 0)
            return [
                m
                for m in range(hours * 60)
                if any(t.name == "periodic_sync" for t in maint.read_periodic(start + timedelta(minutes=m)))
            ]

    assert due_minutes(15, 1) == [0, 15, 30, 45]
    ninety = due_minutes(90, 6)
    assert len(ninety) == 4 and {b - a for a, b in itertools.pairwise(ninety)} == {90}
    assert due_minutes(0, 1) == []


def wait_for(what: Callable[[], bool], seconds: float = 60) -> None:
    """Until `what` holds (an observable state), or fail after `seconds`: a bound for a hung run,
    not a measure of speed."""
    deadline = time.monotonic() + seconds
    while not what():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_stored_batch_reaches_new_connections_without_a_sync(sim: Sim, tmp_path: Path) -> None:
    """Views list files by name: the slow consumer's publisher syncs metadata.db `publish_delay`
    after a write, so no `neo sync` and no maint consumer is needed for analysts to see it."""
    settings = settings_for(sim(end=END), tmp_path, publish_delay=0.05)
    sync(settings)  # metadata.db as an analyst found it before the download
    count = "SELECT count(*) FROM daily WHERE trade_date = DATE '2024-01-05'"
    assert neo.connect(settings).sql(count).fetchall() == [(0,)]
    with AppContainer(settings) as c:
        pipeline = QueuedPipeline(c)
        with runner.consumers(pipeline, 1, 1):
            pipeline.download("daily", {"trade_date": "20240105"})
            wait_for(lambda: bool(c.ledger.entries("daily", status="done")))
            rows = c.ledger.entries("daily", status="done")[0].rows
            wait_for(lambda: neo.connect(settings).sql(count).fetchall() == [(rows,)])
            assert c.publisher.syncs >= 1 and rows
