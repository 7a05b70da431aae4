"""The ledger: which requests are planned, done (durably written, with how many rows) or failed.

It is the source of truth for planning. Queues are transport: a task lost with a killed consumer
is simply planned again, because only a durable write marks a request done. It lives in SQLite
under the data root, next to the lake it describes, and is written by the planner and the slow
and maint consumers (which run where the data root is). Reading commands (status, verify, report)
open it read-only: they create no file, not even the ledger when it is absent (see core/sqlite.py).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neo.core import sqlite

SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    dataset TEXT NOT NULL,
    request TEXT NOT NULL,          -- canonical JSON of the call's params
    status TEXT NOT NULL,           -- pending | done | failed
    plan_id TEXT,
    rows INTEGER,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    planned_at REAL,
    finished_at REAL,
    PRIMARY KEY (dataset, request)
);
CREATE INDEX IF NOT EXISTS requests_plan ON requests (plan_id, status);
CREATE INDEX IF NOT EXISTS requests_finished ON requests (finished_at);
"""


def request_key(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Entry:
    dataset: str
    request: str
    status: str
    rows: int | None
    error: str | None
    finished_at: float | None
    planned_at: float | None = None

    @property
    def params(self) -> dict[str, Any]:
        return json.loads(self.request)


@dataclass
class DatasetProgress:
    dataset: str
    total: int = 0
    done: int = 0
    failed: int = 0
    rows: int = 0
    recent: int = 0  # calls finished in the last 60 s

    @property
    def remaining(self) -> int:
        return self.total - self.done - self.failed


class Ledger:
    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        """`read_only`: for reading commands, which must create and change no file; the writing
        methods then fail."""
        self.path = path
        self.read_only = read_only
        self._local = threading.local()
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
            with self._db() as db:
                db.executescript(SCHEMA)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        if self.read_only:  # a connection per use: it sees what writers committed since
            conn = sqlite.read_only(self.path) if self.path.exists() else _empty()
            try:
                yield conn
            finally:
                conn.close()
            return
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")  # 'done' must survive a crash, like the data
            self._local.conn = conn
        yield conn

    def plan(self, plan_id: str, requests: Iterable[tuple[str, dict[str, Any]]]) -> None:
        now = time.time()
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT INTO requests (dataset, request, status, plan_id, planned_at) "
                "VALUES (?, ?, 'pending', ?, ?) ON CONFLICT (dataset, request) DO UPDATE SET "
                "status = 'pending', plan_id = excluded.plan_id, planned_at = excluded.planned_at, "
                "error = NULL",
                [(ds, request_key(p), plan_id, now) for ds, p in requests],
            )
            db.execute("COMMIT")

    def done(self, dataset: str, params: dict[str, Any], rows: int) -> None:
        """Call only after the batch's files are durable."""
        with self._db() as db:
            db.execute(
                "INSERT INTO requests (dataset, request, status, rows, attempts, finished_at) "
                "VALUES (?, ?, 'done', ?, 1, ?) ON CONFLICT (dataset, request) DO UPDATE SET "
                "status = 'done', rows = excluded.rows, error = NULL, attempts = attempts + 1, "
                "finished_at = excluded.finished_at",
                (dataset, request_key(params), rows, time.time()),
            )

    def covered(self, dataset: str, requests: Iterable[tuple[dict[str, Any], int]]) -> None:
        """Mark requests done whose rows reached the lake another way (`neo migrate`), in one
        transaction. Requests a download already finished keep their own entry."""
        now = time.time()
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT INTO requests (dataset, request, status, rows, attempts, finished_at) "
                "VALUES (?, ?, 'done', ?, 0, ?) ON CONFLICT (dataset, request) DO UPDATE SET "
                "status = 'done', rows = excluded.rows, error = NULL, finished_at = excluded.finished_at "
                "WHERE requests.status != 'done'",
                [(dataset, request_key(p), rows, now) for p, rows in requests],
            )
            db.execute("COMMIT")

    def failed(self, dataset: str, params: dict[str, Any], error: str) -> None:
        with self._db() as db:
            db.execute(
                "INSERT INTO requests (dataset, request, status, error, attempts, finished_at) "
                "VALUES (?, ?, 'failed', ?, 1, ?) ON CONFLICT (dataset, request) DO UPDATE SET "
                "status = 'failed', error = excluded.error, attempts = attempts + 1, "
                "finished_at = excluded.finished_at",
                (dataset, request_key(params), error, time.time()),
            )

    def release(self, dataset: str, params: dict[str, Any]) -> None:
        """A pending request whose task left the queue without finishing (its consumer stopped on
        a full disk or a rejected token): plan it again at once, not after `neo dl`'s queued TTL."""
        with self._db() as db:
            db.execute(
                "UPDATE requests SET planned_at = NULL WHERE dataset = ? AND request = ? "
                "AND status = 'pending'",
                (dataset, request_key(params)),
            )

    def entries(self, dataset: str | None = None, status: str | None = None) -> list[Entry]:
        sql = "SELECT dataset, request, status, rows, error, finished_at, planned_at FROM requests WHERE 1=1"
        args: list[Any] = []
        if dataset is not None:
            sql += " AND dataset = ?"
            args.append(dataset)
        if status is not None:
            sql += " AND status = ?"
            args.append(status)
        with self._db() as db:
            return [Entry(*row) for row in db.execute(sql + " ORDER BY dataset, request", args)]

    def progress(self, plan_id: str) -> dict[str, DatasetProgress]:
        out: dict[str, DatasetProgress] = {}
        since = time.time() - 60
        with self._db() as db:
            rows = db.execute(
                "SELECT dataset, count(*), sum(status = 'done'), sum(status = 'failed'), "
                "coalesce(sum(CASE WHEN status = 'done' THEN rows END), 0), "
                "sum(status != 'pending' AND finished_at >= ?) FROM requests WHERE plan_id = ? "
                "GROUP BY dataset",
                (since, plan_id),
            ).fetchall()
        for ds, total, done, failed, nrows, recent in rows:
            out[ds] = DatasetProgress(ds, total, done or 0, failed or 0, nrows or 0, recent or 0)
        return out

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _empty() -> sqlite3.Connection:
    """An empty ledger in memory: what a reading command sees of a data root that has none."""
    conn = sqlite3.connect(":memory:")
    conn.executescript(SCHEMA)
    return conn
