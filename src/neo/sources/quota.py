"""Per-API call quotas enforced on our side, shared by every thread and process on one machine.

pyrate-limiter keeps a sliding-window log per API in a SQLite file under the data root, guarded by
a file lock, so N fast workers in M processes together never exceed the configured calls per
window. A sliding window at the configured rate never trips the server's fixed or sliding window,
provided the window we keep is a little longer than the server's: a call is stamped when it is
admitted but reaches the server a few milliseconds later, and pyrate-limiter stamps a call that
waited with its planned, not its actual, wake-up time. MARGIN covers both.
"""

from __future__ import annotations

import random
import threading
import time
import uuid

from pyrate_limiter import AbstractBucket, Limiter, Rate, RateItem

from neo.core.backends import backend_for
from neo.core.config import Settings


def margin(window: float) -> float:
    """Seconds added to our window: 1% of it (0.6 s of a minute), at least 250 ms."""
    return max(0.25, 0.01 * window)


class QuotaGate:
    """`acquire(api)` blocks until one more call to `api` fits in the window.

    The windows live where the queues do (backends.py): with `queue_url` set to Redis they hold for
    every machine sharing it; otherwise in a SQLite file under the data root, for every process of
    this machine.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._backend = backend_for(settings)
        self._limiters: dict[str, Limiter | None] = {}
        self._waiters: dict[str, threading.Lock] = {}
        self._buckets: dict[str, AbstractBucket] = {}
        self._lock = threading.Lock()

    def _limiter(self, api: str) -> Limiter | None:
        with self._lock:
            if api not in self._limiters:
                per_window = self._settings.quota_for(api)
                if per_window <= 0:
                    self._limiters[api] = None
                else:
                    window = self._settings.quota_window
                    window_ms = int((window + margin(window)) * 1000)
                    # Pace calls evenly (one per window/quota) under the window limit: no bursts
                    # that a server's fixed window could catch, and steady use of the quota.
                    rates = [Rate(1, max(1, window_ms // per_window)), Rate(per_window, window_ms)]
                    if per_window == 1:
                        rates = rates[1:]
                    bucket = self._backend.bucket(
                        self._settings, f"quota_{api}_{per_window}_{window_ms}", rates
                    )
                    self._buckets[api] = bucket
                    self._limiters[api] = Limiter(bucket, buffer_ms=0)
            return self._limiters[api]

    def acquire(self, api: str) -> None:
        limiter = self._limiter(api)
        if limiter is None:
            return
        if self._try(limiter, api):
            return
        # One waiter per API in this process, sleeping until the bucket says a call fits, then
        # trying again stamped with the real time. pyrate-limiter's own blocking wait stamps a call
        # with its planned wake-up time; with many threads contending, the stamps lag the clock,
        # the window looks fuller than it is, and 16 workers got 79% of the quota.
        bucket = self._buckets[api]
        with self._waiter(api):
            while not self._try(limiter, api):
                wait_ms = bucket.waiting(RateItem(api, bucket.now()))
                wait = min(max(int(wait_ms), 1) / 1000, self._settings.quota_window)  # type: ignore[arg-type]
                time.sleep(wait + random.uniform(0, 0.002))

    @staticmethod
    def _try(limiter: Limiter, api: str) -> bool:
        """One attempt, stamped now. (blocking=False makes pyrate-limiter call FileLock.acquire(False),
        which filelock reads as a timeout and rejects; timeout=0 is a single attempt as well.)
        A unique name per call: the Redis bucket stores calls as set members named after it."""
        return bool(limiter.try_acquire(f"{api}:{uuid.uuid4().hex}", blocking=True, timeout=0))

    def _waiter(self, api: str) -> threading.Lock:
        with self._lock:
            return self._waiters.setdefault(api, threading.Lock())

    def close(self) -> None:
        with self._lock:
            for limiter in self._limiters.values():
                if limiter is not None:
                    limiter.close()
            self._limiters.clear()
