"""The simulator's HTTP server: Tushare's protocol on `/`, `/dataapi` and `/dataapi/{api_name}`.

The protocol (token, `fields`, null and unknown params, per-API rules, row caps, limit/offset paging,
newest-first order, error replies) is `neo.protocol`, shared with `neo serve`; the rows come from the
market's frames (`neo.sim.query.SimSource`). What only a simulator does lives here: per-token per-API
quotas with the real 40203 message, injected faults, revisions of rows served again, poisoned
values, and the hold()/release() test hook. `GET /_sim/stats` reports what it served.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
import zlib
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import orjson

from neo.datasets import row_cap, spec_for_api
from neo.datasets.spec import api_schemas
from neo.protocol.core import (
    MSG_API,
    MSG_DB,
    MSG_FIELD,
    MSG_INTERNAL,
    MSG_MINUTE,
    MSG_PERMISSION,
    MSG_REQUIRED,
    MSG_TOKEN,
    Call,
    ProtocolError,
    Query,
    Reply,
    Service,
    error_body,
    int_param,
    ok_body,
)
from neo.protocol.http import ProtocolHTTPServer, in_background
from neo.sim.market import Market
from neo.sim.minutes import MinuteOptions
from neo.sim.query import Tables, base_api, columns, items, page_query, select

log = logging.getLogger("neo.sim")

# Re-exported: tests and tools import the messages from here.
__all__ = [
    "FAULT_KINDS",
    "MSG_API",
    "MSG_DB",
    "MSG_FIELD",
    "MSG_INTERNAL",
    "MSG_MINUTE",
    "MSG_PERMISSION",
    "MSG_REQUIRED",
    "MSG_TOKEN",
    "Poison",
    "Reply",
    "SimConfig",
    "SimHTTPServer",
    "Simulator",
    "running",
]

FAULT_KINDS = ("http_5xx", "slow", "quota", "malformed", "db_error")


@dataclass(frozen=True)
class Poison:
    """Put `value` into `field` of the first row of every reply of `api` whose params include
    `params`: a server sending what no declared type accepts (e.g. close = "abc")."""

    api: str
    field: str
    value: Any
    params: dict[str, Any] = field(default_factory=dict, hash=False)

    def applies(self, api: str, params: dict[str, Any]) -> bool:
        return base_api(api) == base_api(self.api) and all(params.get(k) == v for k, v in self.params.items())


@dataclass
class SimConfig:
    stocks: int = 50
    start: date = date(2023, 1, 1)
    end: date = date(2024, 12, 31)
    seed: int = 42
    token: str | None = None  # only this token is accepted; None accepts any non-empty token
    quota: int = 0  # calls per window per token per API; 0 = unlimited
    quota_window: float = 60.0
    latency_ms: float = 0.0
    faults: dict[str, float] = field(default_factory=dict)  # probability per kind in FAULT_KINDS
    slow_ms: float = 35_000.0  # how long a "slow" fault stalls: beyond the client's timeout
    revise_rate: float = 0.0  # fraction of rows that change each time a request is served again
    caps: dict[str, int] = field(default_factory=dict)  # row cap overrides per API
    deny: frozenset[str] = frozenset()  # APIs answered with the permission error
    ignore_offset: bool = False  # behave like a server that does not honour offset
    poison: tuple[Poison, ...] = ()  # replies carrying a value that cannot be typed
    minutes: MinuteOptions = field(default_factory=MinuteOptions)  # stk_mins/idx_mins where unverified

    def __post_init__(self) -> None:
        unknown = set(self.faults) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}")
        if sum(self.faults.values()) > 1:
            raise ValueError("fault probabilities add up to more than 1")

    @staticmethod
    def split_fault_rate(rate: float) -> dict[str, float]:
        """`--fault-rate F`: F spread evenly over every fault kind."""
        return {k: rate / len(FAULT_KINDS) for k in FAULT_KINDS}

    def cap(self, api: str) -> int:
        return row_cap(api, self.caps)


class Simulator(Service):
    """Protocol logic without HTTP: `handle(body, path_api)` -> Reply. Thread-safe."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.token = config.token
        self.ignore_offset = config.ignore_offset
        self.market = Market(
            stocks=config.stocks,
            start=config.start,
            end=config.end,
            seed=config.seed,
            minute_options=config.minutes,
        )
        self.tables = Tables(self.market)
        self.stats: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._rng = random.Random(config.seed)
        self._calls: dict[tuple[str, str], deque[float]] = {}
        self._served: Counter[str] = Counter()  # serve count per request, for revisions
        # hold()/release(), a test hook: requests still answered before holding (None: no hold),
        # how many were answered since hold(), how many wait now, and what they wait for.
        self._hold_budget: int | None = None
        self._passed = 0
        self._waiting = 0
        self._released = threading.Event()
        self._released.set()

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.stats[key] += n

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.stats)

    # -- test hook: hold requests ---------------------------------------------------------------
    # A test that kills or interrupts a client must do it at a known state, not after a fixed sleep
    # that a fast machine outruns and a loaded one never reaches: with requests held, the client's
    # remaining work cannot finish before the signal, whatever the machine's speed.

    def hold(self, after: int = 0) -> None:
        """Answer `after` more requests (counted from now), then make every later one wait until
        release(). Calling it again while holding resets the count; waiting requests keep waiting."""
        with self._lock:
            if self._released.is_set():
                self._released = threading.Event()
            self._hold_budget = after
            self._passed = 0

    def release(self, hold_after: int | None = None) -> None:
        """Answer every waiting request and hold no more; with `hold_after`, hold again after that
        many more (a client stopping gracefully finishes its calls in flight, yet cannot finish its
        work). Server shutdown calls it too, so that no request thread is left waiting."""
        with self._lock:
            self._hold_budget = None
            self._released.set()
            if hold_after is not None:
                self._released = threading.Event()
                self._hold_budget = hold_after
                self._passed = 0

    def held(self) -> tuple[int, int]:
        """(requests let through since hold(), requests waiting now)."""
        with self._lock:
            return self._passed, self._waiting

    def _wait_while_held(self) -> None:
        with self._lock:
            if self._hold_budget is None:
                return
            if self._passed < self._hold_budget:
                self._passed += 1
                return
            released = self._released
            self._waiting += 1
        try:
            released.wait()
        finally:
            with self._lock:
                self._waiting -= 1

    def handle(self, raw: bytes, path_api: str | None = None, arrived: float | None = None) -> Reply:
        """Answer one request; `arrived` (time.monotonic()) is when it reached the server."""
        arrived = time.monotonic() if arrived is None else arrived
        self._wait_while_held()
        self._count("requests")
        return super().handle(raw, path_api, arrived)

    def knows(self, api: str) -> bool:
        return api in api_schemas()

    def cap(self, api: str) -> int:
        return self.config.cap(api)

    def gate(self, call: Call, arrived: float) -> Reply | None:
        api = call.api
        if api in self.config.deny:
            raise ProtocolError(40203, MSG_PERMISSION)
        if not self._admit(call.token, api, arrived):
            raise ProtocolError(40203, MSG_MINUTE.format(n=self.config.quota), "quota_rejections")
        fault = self._draw_fault()
        call.extra["fault"] = fault
        if fault == "http_5xx":
            self._count("fault_http_5xx")
            status = self._rng.choice([500, 502, 503, 504])
            return Reply(status, b"<html><body><h1>%d</h1></body></html>" % status)
        if fault == "quota":
            self._count("fault_quota")
            raise ProtocolError(40203, MSG_MINUTE.format(n=self.config.quota or 500))
        if fault == "db_error":
            self._count("fault_db_error")
            raise ProtocolError(-1, MSG_DB)
        return None

    def deliver(self, call: Call, body: bytes) -> Reply:
        fault = call.extra.get("fault")
        delay = self.config.latency_ms / 1000
        if fault == "slow":
            self._count("fault_slow")
            delay += self.config.slow_ms / 1000
        if fault == "malformed":
            self._count("fault_malformed")
            body = body[: max(1, len(body) // 2)]
        return Reply(200, body, delay)

    def error(self, exc: ProtocolError) -> Reply:
        self._count(exc.stat)
        return Reply(200, error_body(exc.code, exc.msg), self.config.latency_ms / 1000)

    def _admit(self, token: str, api: str, now: float) -> bool:
        if self.config.quota <= 0:
            return True
        with self._lock:
            calls = self._calls.setdefault((token, api), deque())
            while calls and calls[0] <= now - self.config.quota_window:
                calls.popleft()
            if len(calls) >= self.config.quota:
                return False
            calls.append(now)
            return True

    def _draw_fault(self) -> str | None:
        if not self.config.faults:
            return None
        with self._lock:
            u = self._rng.random()
        for kind in FAULT_KINDS:
            p = self.config.faults.get(kind, 0.0)
            if u < p:
                return kind
            u -= p
        return None

    def answer(self, call: Call, query: Query) -> bytes:
        api, params, names = call.api, call.params, list(query.names)
        frame, rows, total = page_query(self.tables, query)
        cols = columns(frame, rows, names)
        if self.config.revise_rate > 0 and len(rows):
            cols = self._revise(api, params, frame, rows, names, cols, served=True)
        out = items(cols)
        for poison in self.config.poison:
            if out and poison.field in names and poison.applies(api, params):
                first = list(out[0])
                first[names.index(poison.field)] = poison.value
                out[0] = tuple(first)
                self._count("poisoned_replies")
        self._count(f"calls_{base_api(api)}")
        self._count("rows", len(out))
        return ok_body(names, out, query.offset + len(rows) < total)

    def expected(self, api: str, params: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
        """Every field of every row that `api` answers for `params` now, in its latest revision,
        without paging, faults or counting a call: what a correct client must end up holding.
        Tests build their reference lake from this, never from neo's own output."""
        names = [f["name"] for f in api_schemas()[api]["fields"]]
        frame, rows = select(self.tables, api, params)
        cols = columns(frame, rows, names)
        if self.config.revise_rate > 0 and len(rows):
            cols = self._revise(api, params, frame, rows, names, cols, served=False)
        return names, orjson.loads(orjson.dumps(items(cols)))  # as on the wire: NaN travels as null

    def _revise(
        self,
        api: str,
        params: dict[str, Any],
        frame: dict[str, np.ndarray],
        rows: np.ndarray,
        names: list[str],
        columns: list[np.ndarray],
        served: bool,
    ) -> list[np.ndarray]:
        """Serving a request again revises a fraction of its rows: generation g of a request changes
        each row with probability revise_rate, and a revised value stays revised later on.
        `served=False` reads the revision last served without counting a new one."""
        request = orjson.dumps(
            {k: v for k, v in sorted(params.items()) if k not in ("limit", "offset")}
        ).decode()
        with self._lock:
            if served and int_param(params.get("offset"), 0) == 0:
                self._served[f"{api}|{request}"] += 1
            generation = self._served[f"{api}|{request}"] - 1
        if generation <= 0:
            return columns
        spec = spec_for_api(api)
        key_cols = [k for k in (spec.key if spec else ("ts_code",)) if k in frame]
        keys = np.fromiter(
            (zlib.crc32("|".join(str(frame[k][r]) for k in key_cols).encode()) for r in rows),
            dtype=np.uint64,
            count=len(rows),
        )
        revisions = np.zeros(len(rows))
        for g in range(1, generation + 1):
            u = _uniform(keys, self.config.seed, g)
            revisions += u < self.config.revise_rate
        if not revisions.any():
            return columns
        self._count("revised_rows", int((revisions > 0).sum()))
        factor = 1.0 + 0.01 * revisions
        out = []
        for name, col in zip(names, columns, strict=True):
            if col.dtype == np.float64 and name != "pct_chg":
                col = np.round(col * factor, 4)
            out.append(col)
        return out


def _uniform(keys: np.ndarray, seed: int, generation: int) -> np.ndarray:
    """A deterministic uniform [0, 1) per key and generation (splitmix64)."""
    with np.errstate(over="ignore"):
        z = keys * np.uint64(0x9E3779B97F4A7C15) + np.uint64((seed * 1_000_003 + generation) & 0xFFFFFFFF)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


class SimHTTPServer(ProtocolHTTPServer):
    def __init__(self, sim: Simulator, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sim = sim
        super().__init__(sim, host, port)

    def get(self, path: str) -> Reply:
        if path == "/_sim/stats":
            return Reply(200, orjson.dumps(self.sim.snapshot()))
        return super().get(path)

    def shutdown(self) -> None:
        self.sim.release()  # requests held by a test answer now rather than wait forever
        super().shutdown()


@contextlib.contextmanager
def running(config: SimConfig, host: str = "127.0.0.1", port: int = 0) -> Iterator[SimHTTPServer]:
    """Serve the simulator from a background thread for the duration of the block."""
    with in_background(SimHTTPServer(Simulator(config), host, port), "neo-sim") as server:
        yield server
