"""The three Huey queues and their tasks.

    fast   download(dataset, params)       calls Tushare within the quota, hands the batch to slow
    slow   store(dataset, params, batch)   cleans, types and writes Parquet, then marks the ledger
           failed(dataset, params, error)  records a request that cannot succeed (yet)
    maint  sync()                          rebuilds metadata.db; also periodic, every `sync_minutes`
                                           (writes are published without it: catalog.Publisher)
           maintain()                      compacts and vacuums the lake; also periodic, `compact_cron`

Where the queues live follows `queue_url` (backends.py): embedded, one SQLite file under the data
root; or Redis, so fast consumers on several machines share them (and the quota, see QuotaGate);
slow and maint consumers run where the data root is. Batches travel as Arrow IPC (zstd), not as
lists of dicts.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc
from huey import Huey, crontab
from huey.api import Task

from neo.core.backends import backend_for
from neo.core.errors import NeoError, SchemaError, StorageError, explain, first_line
from neo.datasets import get
from neo.lake.catalog import sync
from neo.lake.maintenance import due, maintain
from neo.pipeline.batch import Batch
from neo.pipeline.container import AppContainer
from neo.pipeline.ingest import download, store
from neo.sources.errors import CredentialError, QuotaError, RetriesExhaustedError, TransientError

log = logging.getLogger("neo.queues")
RETRYABLE = (RetriesExhaustedError, TransientError, QuotaError)


def to_ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, table.schema, options=ipc.IpcWriteOptions(compression="zstd")) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def from_ipc(data: bytes) -> pa.Table:
    return ipc.open_stream(pa.py_buffer(data)).read_all()


def every_minutes(n: int) -> Callable[[datetime], bool]:
    """A periodic schedule due every `n` minutes, any n: crontab's */n counts within the hour, so
    */90 would run hourly. Minutes since the epoch keep the spacing exact across hours and days."""

    def due(when: datetime) -> bool:
        return int(when.replace(tzinfo=UTC).timestamp()) // 60 % n == 0

    return due


@dataclass
class Queues:
    fast: Huey
    slow: Huey
    maint: Huey

    def depths(self) -> dict[str, int]:
        return {name: getattr(self, name).pending_count() for name in ("fast", "slow", "maint")}


class QueuedPipeline:
    """Builds the queues for one container and registers neo's tasks on them."""

    def __init__(self, container: AppContainer) -> None:
        self.container = container
        self.cpu: Counter[str] = Counter()  # CPU seconds per stage in this process's workers
        self._cpu_lock = threading.Lock()
        # The first full or read-only disk, or rejected token, a task met. The request stays pending
        # in the ledger, so a re-run redoes it; the consumers stop, since every other request would
        # fail the same way (and be recorded as failed, waiting for --retry-failed).
        self.fatal: NeoError | None = None
        self.on_fatal: Callable[[], None] = lambda: None
        s = container.settings
        backend = backend_for(s)
        self.queues = Queues(*(backend.huey(s, n) for n in ("fast", "slow", "maint")))
        fast, slow, maint = self.queues.fast, self.queues.slow, self.queues.maint
        self.download = fast.task(
            retries=s.task_retries, retry_delay=s.task_retry_delay, context=True, name="download"
        )(self._guard(self._download))
        self.store = slow.task(name="store")(self._guard(self._store))
        self.failed = slow.task(name="failed")(self._guard(self._failed))
        self.sync = maint.task(name="sync")(self._guard(self._sync))
        if s.sync_minutes:
            every = every_minutes(s.sync_minutes)
            maint.periodic_task(every, name="periodic_sync")(self._guard(self._sync))
        self.maintain = maint.task(name="maintain")(self._guard(self._maintain))
        if s.compact_cron.strip():
            when = crontab(*s.compact_cron.split())
            maint.periodic_task(when, name="periodic_maintain")(self._guard(self._maintain))

    def _guard(self, body: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(body)
        def run(*args: Any, **kwargs: Any) -> None:
            try:
                body(*args, **kwargs)
            except Exception as exc:
                problem = explain(exc)
                if not isinstance(problem, StorageError | CredentialError):
                    raise
                if self.fatal is None:  # the command that runs the consumers prints it, once
                    self.fatal = problem
                    self.on_fatal()

        return run

    # -- task bodies ------------------------------------------------------------------------------

    def _charge(self, stage: str, since: float) -> float:
        now = time.thread_time()
        with self._cpu_lock:
            self.cpu[stage] += now - since
        return now

    def _download(self, dataset: str, params: dict[str, Any], task: Task | None = None) -> None:
        spec = get(dataset)
        started = time.thread_time()
        try:
            batch = download(self.container.client, spec, params)
        except RETRYABLE as exc:
            if task is not None and task.retries > 0:
                log.warning("%s %s: %s; queued again in %ss", dataset, params, exc, task.retry_delay)
                raise
            self.failed(dataset, params, str(exc))
            return
        except CredentialError:
            self._release(dataset, params)
            raise  # for _guard: stop the run rather than fail every request
        except NeoError as exc:  # permission, bad request, paging: retrying cannot help
            self.failed(dataset, params, str(exc))
            return
        except Exception as exc:  # a bug must not stall the plan: record it and go on
            log.exception("%s %s failed", dataset, params)
            self.failed(dataset, params, f"unexpected {type(exc).__name__}: {exc}")
            return
        data = to_ipc(batch.table)
        self._charge("download", started)
        self.store(dataset, params, batch.batch_id, batch.fetched_at.isoformat(), data)

    def _store(
        self, dataset: str, params: dict[str, Any], batch_id: str, fetched_at: str, data: bytes
    ) -> None:
        c = self.container
        started = time.thread_time()
        batch = Batch(dataset, from_ipc(data), params, batch_id, datetime.fromisoformat(fetched_at))
        self._charge("process", started)
        try:
            result = store(batch, get(dataset), c.processor, c.writer)
        except SchemaError as exc:
            c.ledger.failed(dataset, params, str(exc))
            return
        except Exception as exc:
            if isinstance(explain(exc), StorageError):
                self._release(dataset, params)
                raise  # for _guard: stop, and leave the request pending
            log.exception("%s %s: writing failed", dataset, params)  # a bug must not stall the plan
            c.ledger.failed(dataset, params, f"unexpected {type(exc).__name__}: {first_line(str(exc))}")
            return
        result.record(c.ledger, dataset, params)  # only now: the files are durable
        c.publisher.changed()  # metadata.db lists the files from its next sync
        with self._cpu_lock:
            self.cpu["process"] += result.process_cpu
            self.cpu["write"] += result.write_cpu

    def _release(self, dataset: str, params: dict[str, Any]) -> None:
        """The task is leaving the queue unfinished while its request stays pending: let the next
        `neo dl` plan it again. On a full disk the ledger may not take even that; then the
        request waits out the queued TTL (or `neo download`, which plans every pending request)."""
        try:
            self.container.ledger.release(dataset, params)
        except Exception as exc:
            log.warning(
                "%s %s: could not mark it for planning again: %s", dataset, params, first_line(str(exc))
            )

    def _failed(self, dataset: str, params: dict[str, Any], error: str) -> None:
        self.container.ledger.failed(dataset, params, error)

    def _sync(self) -> None:
        settings = self.container.settings
        sync(settings)
        if todo := due(settings):  # fresh files piled up since the last compaction
            maintain(settings, todo)

    def _maintain(self) -> None:
        maintain(self.container.settings)
