"""`neo serve`: the lake behind Tushare's protocol, read-only.

`LakeService` is the protocol (`neo.protocol.core.Service`) over the lake: requests by date of the
bar-like datasets come from months kept in memory (`neo.protocol.months`), the rest from Parquet
(`neo.protocol.lake.LakeSource`), with the same answers; minute bars (a dataset per freq, the
request's freq picking one) from Parquet, their window cut as the simulator cuts it
(`neo.protocol.minutes`). Before answering it checks that the lake holds everything the request
asks (`neo.protocol.coverage`); when it does not, the reply is error -1000 (Tushare's "malformed
request" class: fix the request, do not retry) whose one-line message names the dataset, what is
missing and the `neo download` command that fills it. APIs neo has no dataset for get Tushare's
unknown-API reply.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from datetime import datetime

import orjson

from neo.core.config import Settings
from neo.core.dates import beijing_now
from neo.core.errors import UsageError, check_exists
from neo.datasets import DatasetSpec, row_cap, spec_for_api
from neo.datasets.spec import api_schemas
from neo.protocol import minutes
from neo.protocol.core import Call, Page, ProtocolError, Query, Service, ok_reply
from neo.protocol.coverage import Coverage
from neo.protocol.http import ProtocolHTTPServer, in_background, serve_until_interrupted
from neo.protocol.lake import Lake, LakeSource, dataset_of
from neo.protocol.months import Months
from neo.protocol.rules import rule_for

__all__ = ["INCOMPLETE", "MONTHS_MB", "LakeHTTPServer", "LakeService", "bind", "running", "serve_forever"]

INCOMPLETE = -1000  # the code of the reply to a request the lake cannot answer completely
MONTHS_MB = 512  # default memory for months of data (neo.protocol.months): ~20 MB per month of daily


class ReplyCache:
    """Replies by request, least recently used dropped beyond `limit` bytes.

    Exact, not a heuristic: the lake changes only when a download or a compaction commits, which
    changes `Lake.signature()`, part of every key; entries of an older signature are never hit
    again and age out."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self._lock = threading.Lock()
        self._entries: OrderedDict[bytes, bytes] = OrderedDict()

    def get(self, key: bytes) -> bytes | None:
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
            return hit

    def put(self, key: bytes, data: bytes) -> None:
        if len(data) > self.limit // 8:  # one huge reply must not flush everything else
            return
        with self._lock:
            old = self._entries.pop(key, None)
            self.size += len(data) - (len(old) if old is not None else 0)
            self._entries[key] = data
            while self.size > self.limit and self._entries:
                self.size -= len(self._entries.popitem(last=False)[1])


class LakeService(Service):
    """Tushare's protocol answered from the lake. Thread-safe. `cache_mb` bounds the reply cache,
    `months_mb` the months of data kept in memory (`neo.protocol.months`); 0: none."""

    explain_malformed = True

    def __init__(
        self,
        settings: Settings,
        token: str | None = None,
        cache_mb: int = 256,
        months_mb: int = MONTHS_MB,
        now: Callable[[], datetime] = beijing_now,
    ) -> None:
        check_exists(settings.home)  # a reading command: it creates nothing, a data root least of all
        self.settings = settings
        self.token = token
        self.now = now
        self.lake = Lake(settings)
        self.source = LakeSource(self.lake)
        self.months = Months(self.lake, months_mb << 20)
        self.coverage = Coverage(self.lake, now)
        self.cache = ReplyCache(cache_mb << 20) if cache_mb > 0 else None

    def knows(self, api: str) -> bool:
        return api in api_schemas() and rule_for(api) is not None and spec_for_api(api) is not None

    def cap(self, api: str) -> int:
        return row_cap(api, self.settings.row_caps)

    def resolve(self, query: Query) -> tuple[DatasetSpec, Query]:
        """The dataset `query` reads (a minute API's: the one of its freq), and the query as the lake
        answers it: a minute request's filters are its code and its window of bars, the open ends
        closed as of now (`neo.protocol.minutes`). Resolving a resolved query changes nothing."""
        spec = dataset_of(query)
        assert spec is not None  # knows() lets through only APIs with a dataset; freq is checked
        if query.rule.moments:
            query = minutes.bounded(query, self.now().date())
        return spec, query

    def page(self, query: Query) -> Page:
        """One page of `query`, or ProtocolError(INCOMPLETE) when the lake lacks part of it."""
        spec, query = self.resolve(query)
        with self.lake.pinned():
            gap = self.coverage.gap(spec, query)
            if gap is not None:
                raise ProtocolError(INCOMPLETE, gap.message())
            held = self.months.page(spec, query)
            return held if held is not None else self.source.page(query)

    def answer(self, call: Call, query: Query) -> bytes:
        _, query = self.resolve(query)
        with self.lake.pinned():
            key = None
            if self.cache is not None:
                request = [
                    query.api,
                    query.names,
                    sorted(query.params.items()),
                    sorted(query.aliased.items()),
                    query.filters,  # a minute request without dates: its window moves with the day
                ]
                key = orjson.dumps([self.lake.signature(), *request, query.offset, query.limit], default=str)
                hit = self.cache.get(key)
                if hit is not None:
                    return ok_reply(hit)
            data = self.page(query).data()
            if key is not None and self.cache is not None:
                self.cache.put(key, data)
            return ok_reply(data)

    def close(self) -> None:
        self.lake.close()


class LakeHTTPServer(ProtocolHTTPServer):
    service: LakeService


@contextlib.contextmanager
def running(
    settings: Settings,
    token: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    cache_mb: int = 256,
    months_mb: int = MONTHS_MB,
) -> Iterator[LakeHTTPServer]:
    """Serve the lake from a background thread for the duration of the block."""
    service = LakeService(settings, token, cache_mb, months_mb)
    try:
        with in_background(LakeHTTPServer(service, host, port), "neo-serve") as server:
            yield server
    finally:
        service.close()


def bind(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 7200,
    token: str | None = None,
    cache_mb: int = 256,
    months_mb: int = MONTHS_MB,
) -> LakeHTTPServer:
    """A bound server, not yet serving: the caller says where it listens, then `serve_forever()`.
    Raises UsageError when the address is taken."""
    service = LakeService(settings, token, cache_mb, months_mb)
    try:
        return LakeHTTPServer(service, host, port)
    except OSError as exc:
        service.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def serve_forever(server: LakeHTTPServer) -> None:
    """Serve until Ctrl-C, then release the port and the lake."""
    try:
        serve_until_interrupted(server)
    finally:
        server.service.close()
