"""`neo serve`: the lake behind Tushare's protocol, read-only.

`LakeService` is the protocol (`neo.protocol.core.Service`) over the lake as a data source
(`neo.protocol.lake.LakeSource`). Before answering it checks that the lake holds everything the
request asks (`neo.protocol.coverage`); when it does not, the reply is error -1000 (Tushare's
"malformed request" class: fix the request, do not retry) whose one-line message names the dataset,
what is missing and the `neo download` command that fills it. APIs neo has no dataset for get
Tushare's unknown-API reply.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from neo.core.config import Settings
from neo.core.errors import UsageError
from neo.datasets import row_cap, spec_for_api
from neo.datasets.spec import api_fields
from neo.protocol.core import Call, Page, ProtocolError, Query, Service, ok_body
from neo.protocol.coverage import Coverage
from neo.protocol.http import ProtocolHTTPServer
from neo.protocol.lake import Lake, LakeSource
from neo.protocol.rules import rule_for

__all__ = ["INCOMPLETE", "LakeHTTPServer", "LakeService", "bind", "running", "serve_forever"]

INCOMPLETE = -1000  # the code of the reply to a request the lake cannot answer completely


class LakeService(Service):
    """Tushare's protocol answered from the lake. Thread-safe."""

    def __init__(self, settings: Settings, token: str | None = None) -> None:
        self.settings = settings
        self.token = token
        self.lake = Lake(settings)
        self.source = LakeSource(self.lake)
        self.coverage = Coverage(self.lake)

    def knows(self, api: str) -> bool:
        return api in api_fields() and rule_for(api) is not None and spec_for_api(api) is not None

    def cap(self, api: str) -> int:
        return row_cap(api, self.settings.row_caps)

    def page(self, query: Query) -> Page:
        """One page of `query`, or ProtocolError(INCOMPLETE) when the lake lacks part of it."""
        spec = spec_for_api(query.api)
        assert spec is not None
        gap = self.coverage.gap(spec, query)
        if gap is not None:
            raise ProtocolError(INCOMPLETE, gap.message())
        return self.source.page(query)

    def answer(self, call: Call, query: Query) -> bytes:
        page = self.page(query)
        return ok_body(page.names, page.items, page.has_more)

    def close(self) -> None:
        self.lake.close()


class LakeHTTPServer(ProtocolHTTPServer):
    service: LakeService


@contextlib.contextmanager
def running(
    settings: Settings, token: str | None = None, host: str = "127.0.0.1", port: int = 0
) -> Iterator[LakeHTTPServer]:
    """Serve the lake from a background thread for the duration of the block."""
    service = LakeService(settings, token)
    server = LakeHTTPServer(service, host, port)
    thread = threading.Thread(target=server.serve_forever, name="neo-serve", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        service.close()


def bind(
    settings: Settings, host: str = "127.0.0.1", port: int = 7200, token: str | None = None
) -> LakeHTTPServer:
    """A bound server, not yet serving: the caller says where it listens, then `serve_forever()`.
    Raises UsageError when the address is taken."""
    service = LakeService(settings, token)
    try:
        return LakeHTTPServer(service, host, port)
    except OSError as exc:
        service.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def serve_forever(server: LakeHTTPServer) -> None:
    """Serve until Ctrl-C, then release the port and the lake."""
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        server.service.close()
