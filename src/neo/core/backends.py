"""Where the queues and the quota windows live: one registry, keyed by the scheme of `queue_url`.

Each backend gives both halves together, so they can never disagree (queues in Redis while the
quotas stay on one machine would let several machines overspend one quota):

    (no queue_url)   embedded: SqliteHuey queues in state/queues.db and quota windows in
                     state/quota.sqlite; one machine, no server
    redis://, rediss://, unix://
                     RedisHuey queues and Redis quota windows, shared by every machine using the URL

`depths` reads how many tasks wait in each queue without building the queues: `neo status` creates
no file (an absent state/queues.db has nothing waiting).

A Huey instance is built from a storage class and its keyword arguments (Huey's own
`storage_class` pattern), and the quota bucket from pyrate-limiter's bucket of the same store.
Adding a store means adding one Backend here. Any other scheme is a ConfigError when settings load.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from neo.core import sqlite
from neo.core.errors import ConfigError

if TYPE_CHECKING:
    from huey import Huey
    from pyrate_limiter import AbstractBucket, Rate


class Settings(Protocol):
    """What a backend reads of neo's settings (core/config.py: config imports this module to check
    queue_url, so this module names the settings it needs rather than import them)."""

    queue_url: str | None

    @property
    def queues_path(self) -> Path: ...

    @property
    def quota_path(self) -> Path: ...


QUEUES = ("fast", "slow", "maint")


@dataclass(frozen=True)
class Backend:
    name: str
    embedded: bool  # queues belong to this machine's data root (`neo download` may flush them)
    storage: Callable[[Settings, str], tuple[type, dict[str, Any]]]  # Huey storage class, kwargs
    bucket: Callable[[Settings, str, list[Rate]], AbstractBucket]  # one quota window store
    depths: Callable[[Settings], dict[str, int]]  # tasks waiting per queue, read only

    def huey(self, settings: Settings, queue: str) -> Huey:
        from huey import Huey

        storage_class, kwargs = self.storage(settings, queue)
        return Huey(queue_name(self, queue), results=False, storage_class=storage_class, **kwargs)


def queue_name(backend: Backend, queue: str) -> str:
    # Redis keys are shared with whatever else uses the server: prefix them.
    return queue if backend.embedded else f"neo-{queue}"


def _sqlite_storage(settings: Settings, queue: str) -> tuple[type, dict[str, Any]]:
    from huey.storage import SqliteStorage

    settings.queues_path.parent.mkdir(parents=True, exist_ok=True)
    # Every worker thread and process writes this one file; Huey's 5 s lock wait was seen to run out
    # under a 10-year download ("database is locked"), failing the task. Wait as long as the ledger.
    return SqliteStorage, {"filename": str(settings.queues_path), "timeout": 30}


def _sqlite_depths(settings: Settings) -> dict[str, int]:
    path = settings.queues_path
    waiting: dict[str, int] = {}
    if path.exists():
        con = sqlite.read_only(path)
        try:  # Huey's SqliteStorage: a row per task, named by its queue
            waiting = dict(con.execute("SELECT queue, count(*) FROM task GROUP BY queue").fetchall())
        finally:
            con.close()
    return {q: waiting.get(queue_name(EMBEDDED, q), 0) for q in QUEUES}


def _sqlite_bucket(settings: Settings, name: str, rates: list[Rate]) -> AbstractBucket:
    from pyrate_limiter import SQLiteBucket

    path = settings.quota_path
    path.parent.mkdir(parents=True, exist_ok=True)
    return SQLiteBucket.init_from_file(rates, table=name, db_path=str(path), use_file_lock=True)


def _redis_storage(settings: Settings, queue: str) -> tuple[type, dict[str, Any]]:
    from huey.storage import RedisStorage

    return RedisStorage, {"url": settings.queue_url}


def _redis_bucket(settings: Settings, name: str, rates: list[Rate]) -> AbstractBucket:
    import redis
    from pyrate_limiter import RedisBucket

    return RedisBucket.init(rates, redis.Redis.from_url(str(settings.queue_url)), f"neo:{name}")


def _redis_depths(settings: Settings) -> dict[str, int]:
    return {q: REDIS.huey(settings, q).pending_count() for q in QUEUES}


EMBEDDED = Backend("sqlite", True, _sqlite_storage, _sqlite_bucket, _sqlite_depths)
REDIS = Backend("redis", False, _redis_storage, _redis_bucket, _redis_depths)
BACKENDS: dict[str, Backend] = {"redis": REDIS, "rediss": REDIS, "unix": REDIS}


def scheme(url: str) -> str:
    return urlsplit(url).scheme.lower()


def check_url(url: str | None) -> None:
    """A one-line ConfigError for a queue_url no backend serves (called when settings load)."""
    if url and ("://" not in url or scheme(url) not in BACKENDS):
        what = f"unsupported scheme {scheme(url)}://" if "://" in url else f"{url!r} is not a URL"
        known = ", ".join(f"{s}://" for s in BACKENDS)
        raise ConfigError(f"queue_url: {what}; use {known} or leave it unset for the embedded SQLite queues")


def backend_for(settings: Settings) -> Backend:
    url = settings.queue_url
    if not url:
        return EMBEDDED
    check_url(url)
    return BACKENDS[scheme(url)]
