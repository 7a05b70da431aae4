"""Running the pipeline: `neo dl` (plan and enqueue), `neo dp` (one kind of consumer) and
`neo download` (plan, run every consumer in this process until the plan is done, then sync)."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from huey.consumer import Consumer

from neo.core.backends import backend_for
from neo.core.config import Settings
from neo.datasets import DATASETS, Strategy, get
from neo.lake.catalog import sync
from neo.lake.compact import CompactResult, PartitionResult
from neo.lake.ledger import DatasetProgress
from neo.lake.maintenance import due, maintain
from neo.pipeline.container import AppContainer
from neo.pipeline.estimate import Estimate, estimate
from neo.pipeline.ingest import download as download_batch
from neo.pipeline.ingest import store
from neo.pipeline.planner import Planner, Request
from neo.pipeline.queues import QueuedPipeline


class Progress(Protocol):
    """What `neo download` shows while it runs; the runner only reports (console.LiveDownload draws
    it on a terminal, Quiet shows nothing)."""

    def planned(self, line: str) -> None: ...
    def update(
        self, progress: dict[str, DatasetProgress], depths: dict[str, int], elapsed: float
    ) -> None: ...
    def stopped(self) -> None: ...
    def say(self, line: str) -> None: ...


class Quiet:
    def planned(self, line: str) -> None:
        pass

    def update(self, progress: dict[str, DatasetProgress], depths: dict[str, int], elapsed: float) -> None:
        pass

    def stopped(self) -> None:
        pass

    def say(self, line: str) -> None:
        pass


QUEUED_TTL = 6 * 3600.0  # `neo dl`: a request planned this recently is assumed still queued
CONSUMER_OPTIONS = {"worker_type": "thread", "initial_delay": 0.05, "backoff": 1.2, "max_delay": 0.5}


@dataclass
class PlanResult:
    plan_id: str
    requests: list[Request] = field(default_factory=list)


def ensure_calendar(container: AppContainer, planner: Planner, datasets: list[str] | None = None) -> None:
    """The trade calendar drives every plan, and the stock list the plans of per-stock datasets:
    download them right here when they are missing or stale."""
    needed = ["trade_cal"]
    per_stock = (Strategy.STOCK_HISTORY, Strategy.MINUTE_BARS)
    if any(get(n).strategy in per_stock for n in datasets or DATASETS):
        needed.append("stock_basic")
    for request in planner.snapshots_due(needed):
        spec = get(request.dataset)
        result = store(
            download_batch(container.client, spec, request.params),
            spec,
            container.processor,
            container.writer,
        )
        result.record(container.ledger, request.dataset, request.params)
    planner.refresh()


def plan(
    container: AppContainer,
    pipeline: QueuedPipeline,
    datasets: list[str] | None = None,
    start: date | None = None,
    end: date | None = None,
    codes: list[str] | None = None,
    retry_failed: bool = False,
    queued_ttl: float = 0.0,
    refetch: bool = False,
) -> PlanResult:
    """`neo dl`: record the plan in the ledger, then put its requests on the fast queue."""
    planner = Planner(
        container.settings,
        container.ledger,
        retry_failed=retry_failed,
        queued_ttl=queued_ttl,
        refetch=refetch,
    )
    ensure_calendar(container, planner, datasets)
    requests = planner.plan(datasets, start, end, codes)
    result = PlanResult(uuid.uuid4().hex[:12], requests)
    container.ledger.plan(result.plan_id, [(r.dataset, r.params) for r in requests])
    for r in requests:
        pipeline.download(r.dataset, r.params)
    return result


def consume(pipeline: QueuedPipeline, kind: str, workers: int) -> None:
    """`neo dp KIND`: one kind of consumer in the foreground until Ctrl-C or SIGTERM."""
    huey = getattr(pipeline.queues, kind)
    # A full or read-only disk, or a rejected token, stops the consumer (SIGTERM is Huey's "stop
    # now"); the request it was doing stays pending in the ledger for the next run.
    pipeline.on_fatal = lambda: os.kill(os.getpid(), signal.SIGTERM)
    huey.create_consumer(workers=workers, periodic=(kind == "maint"), **CONSUMER_OPTIONS).run()
    if pipeline.fatal is not None:
        raise pipeline.fatal


@contextmanager
def consumers(pipeline: QueuedPipeline, fast: int, slow: int) -> Iterator[list[Consumer]]:
    """Every kind of consumer on threads of this process, stopped gracefully on the way out."""
    q = pipeline.queues
    started = [
        q.fast.create_consumer(workers=fast, periodic=False, **CONSUMER_OPTIONS),
        q.slow.create_consumer(workers=slow, periodic=False, **CONSUMER_OPTIONS),
        q.maint.create_consumer(workers=1, periodic=False, **CONSUMER_OPTIONS),
    ]
    handler = signal.getsignal(signal.SIGINT)
    for c in started:
        c.start()
    # Huey's consumers take over SIGINT; here Ctrl-C must reach our loop as KeyboardInterrupt.
    signal.signal(signal.SIGINT, handler)
    try:
        yield started
    finally:
        for c in started:
            c.stop_flag.set()
        for c in started:
            c.stop(graceful=True)


@dataclass
class Summary:
    plan_id: str
    planned: int
    progress: dict[str, DatasetProgress]
    seconds: float
    interrupted: bool = False
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per stage, this process
    compacted: list[CompactResult] = field(default_factory=list)  # maintenance the run did at its end

    @property
    def failed(self) -> int:
        return sum(p.failed for p in self.progress.values())

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.progress.values())


def dry_run(
    container: AppContainer,
    datasets: list[str] | None = None,
    start: date | None = None,
    end: date | None = None,
    codes: list[str] | None = None,
    retry_failed: bool = False,
    refetch: bool = False,
) -> Estimate:
    """`neo download --dry-run`: the plan's calls and time at the quotas, nothing queued. It does
    fetch the trade calendar (and the stock list for per-stock datasets) when missing: every plan
    is made of them."""
    planner = Planner(container.settings, container.ledger, retry_failed=retry_failed, refetch=refetch)
    ensure_calendar(container, planner, datasets)
    return estimate(planner.plan(datasets, start, end, codes), container.settings)


def download(
    container: AppContainer,
    datasets: list[str] | None = None,
    start: date | None = None,
    end: date | None = None,
    codes: list[str] | None = None,
    retry_failed: bool = False,
    progress: Progress | None = None,
    refetch: bool = False,
) -> Summary:
    """`neo download`: plan, run the consumers here until the plan is done, publish, and compact
    what piled up."""
    show = progress or Quiet()
    s = container.settings
    pipeline = QueuedPipeline(container)
    if backend_for(s).embedded:
        # Embedded queues belong to this command: tasks left by an interrupted run are planned
        # again from the ledger, so drop them rather than run them twice.
        pipeline.queues.fast.flush()
    started = time.monotonic()
    with consumers(pipeline, s.fast_workers, s.slow_workers):
        result = plan(container, pipeline, datasets, start, end, codes, retry_failed, refetch=refetch)
        show.planned(estimate(result.requests, s).line())
        done, interrupted = _until_done(container, pipeline, result.plan_id, show, started)
    if pipeline.fatal is not None:
        raise pipeline.fatal
    container.publisher.flush()  # what was written is in metadata.db when the command returns
    compacted = [] if interrupted else _finish(s, datasets, show)
    return Summary(
        result.plan_id,
        len(result.requests),
        done,
        time.monotonic() - started,
        interrupted,
        dict(pipeline.cpu),
        compacted,
    )


def _until_done(
    container: AppContainer, pipeline: QueuedPipeline, plan_id: str, show: Progress, started: float
) -> tuple[dict[str, DatasetProgress], bool]:
    """Report progress until every request of the plan is done or failed (or a consumer met a
    fatal error); the progress, and whether Ctrl-C interrupted it."""
    done: dict[str, DatasetProgress] = {}
    try:
        while pipeline.fatal is None:
            done = container.ledger.progress(plan_id)
            show.update(done, pipeline.queues.depths(), time.monotonic() - started)
            if all(p.remaining == 0 for p in done.values()):
                break
            time.sleep(0.25)
    except KeyboardInterrupt:
        return done, True
    finally:
        show.stopped()
    return done, False


def _finish(settings: Settings, datasets: list[str] | None, show: Progress) -> list[CompactResult]:
    """After a complete run: metadata.db if this data root never had one, and compaction of the
    datasets whose fresh files piled up (a history merges for minutes) or hold rows downloaded
    again (maintenance.due)."""
    if not settings.metadata_db.exists():
        sync(settings)
    todo = due(settings, [get(n) for n in datasets] if datasets else None)
    if not todo:
        return []
    names = ", ".join(spec.name for spec in todo)
    show.say(
        f"compacting {names}: more than {settings.compact_after_files} new files in a partition, "
        "or rows downloaded again"
    )

    def merged(dataset: str, part: PartitionResult) -> None:
        show.say(f"  {dataset}/{part.partition}: {part.files_in} files -> {part.files_out}")

    return [r for r in maintain(settings, todo, on_partition=merged) if r.partitions]
