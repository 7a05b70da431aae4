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

from huey.consumer import Consumer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from neo.app import AppContainer
from neo.core.config import Settings
from neo.datasets import DATASETS, Strategy, get
from neo.lake.catalog import sync
from neo.lake.compact import CompactResult, PartitionResult
from neo.lake.maintenance import due, maintain
from neo.pipeline.backends import backend_for
from neo.pipeline.estimate import Estimate, estimate
from neo.pipeline.ingest import download as download_batch
from neo.pipeline.ingest import store
from neo.pipeline.ledger import DatasetProgress
from neo.pipeline.planner import Planner, Request
from neo.pipeline.queues import QueuedPipeline

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
    planner.calendar.cache_clear()
    planner.stock_codes.cache_clear()


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
    console: Console | None = None,
    refetch: bool = False,
) -> Summary:
    """`neo download`: plan, run the consumers here until the plan is done, sync, summarise."""
    console = console or Console(stderr=True)
    s = container.settings
    pipeline = QueuedPipeline(container)
    if backend_for(s).embedded:
        # Embedded queues belong to this command: tasks left by an interrupted run are planned
        # again from the ledger, so drop them rather than run them twice.
        pipeline.queues.fast.flush()
    started = time.monotonic()
    interrupted = False
    with consumers(pipeline, s.fast_workers, s.slow_workers):
        result = plan(container, pipeline, datasets, start, end, codes, retry_failed, refetch=refetch)
        console.print(estimate(result.requests, s).line())
        progress: dict[str, DatasetProgress] = {}
        try:
            with Live(console=console, refresh_per_second=4, transient=False) as live:
                while pipeline.fatal is None:
                    progress = container.ledger.progress(result.plan_id)
                    live.update(render(progress, s, pipeline.queues.depths(), time.monotonic() - started))
                    if all(p.remaining == 0 for p in progress.values()):
                        break
                    time.sleep(0.25)
        except KeyboardInterrupt:
            interrupted = True
        console.line()
    if pipeline.fatal is not None:
        raise pipeline.fatal
    compacted: list[CompactResult] = []
    container.publisher.flush()  # what was written is in metadata.db when the command returns
    if not interrupted:
        if not s.metadata_db.exists():
            sync(s)
        if todo := due(s, [get(n) for n in datasets] if datasets else None):
            names = ", ".join(spec.name for spec in todo)
            many = s.compact_after_files
            console.print(f"compacting {names}: a partition holds more than {many} new files")

            def show(dataset: str, part: PartitionResult) -> None:  # a history merges for minutes
                console.print(f"  {dataset}/{part.partition}: {part.files_in} files -> {part.files_out}")

            compacted = [r for r in maintain(s, todo, on_partition=show) if r.partitions]
    return Summary(
        result.plan_id,
        len(result.requests),
        progress,
        time.monotonic() - started,
        interrupted,
        dict(pipeline.cpu),
        compacted,
    )


def render(
    progress: dict[str, DatasetProgress], settings: Settings, depths: dict[str, int], elapsed: float
) -> Group:
    table = Table("dataset", "calls", "rows", "calls/min", "quota/min", "ETA", "errors", title="neo download")
    for p in progress.values():
        api = get(p.dataset).api
        quota = settings.quota_for(api)
        per_window = quota * 60 / settings.quota_window if quota else 0
        rate = p.recent  # finished in the last 60 s
        eta = "-" if p.remaining == 0 else (f"{p.remaining / rate:.0f} min" if rate else "?")
        table.add_row(
            p.dataset,
            f"{p.done + p.failed}/{p.total}",
            f"{p.rows:,}",
            str(rate),
            f"{per_window:g}" if per_window else "none",
            eta,
            str(p.failed) if p.failed else "",
        )
    queues = ", ".join(f"{k} {v}" for k, v in depths.items())
    return Group(table, f"queues: {queues}; {elapsed:.0f}s")
