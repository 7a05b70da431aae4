"""HTTP for a protocol `Service`: POST to `/`, `/dataapi` or `/dataapi/{api_name}` (the paths the
SDK has used over the years), keep-alive, one thread per connection. Bodies are never logged: they
carry the caller's token."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

from neo.protocol.core import Reply, Service

log = logging.getLogger("neo.protocol")

__all__ = ["ProtocolHTTPServer"]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so clients reuse connections
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms Nagle stall
    server: ProtocolHTTPServer

    def do_POST(self) -> None:
        arrived = time.monotonic()
        path = self.path.split("?", 1)[0].rstrip("/")
        if path in ("", "/dataapi"):
            path_api = None
        elif path.startswith("/dataapi/") and path.count("/") == 2:
            path_api = path.rsplit("/", 1)[1]
        else:
            self._send(Reply(404, b'{"error": "not found"}'))
            return
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        self._send(self.server.service.handle(raw, path_api, arrived))

    def do_GET(self) -> None:
        self._send(self.server.get(self.path.split("?", 1)[0].rstrip("/")))

    def _send(self, reply: Reply) -> None:
        if reply.delay > 0:
            time.sleep(reply.delay)
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        # The request line only (method, path, status): the token travels in the body.
        log.debug("%s " + format, self.address_string(), *args)


class ProtocolHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, service: Service, host: str = "127.0.0.1", port: int = 0) -> None:
        self.service = service
        super().__init__((host, port), _Handler)

    def get(self, path: str) -> Reply:
        """A GET on `path` (the protocol itself is POST only)."""
        return Reply(405, b'{"error": "POST a JSON body to / or /dataapi"}')

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


S = TypeVar("S", bound=ProtocolHTTPServer)


def serve_until_interrupted(server: ProtocolHTTPServer) -> None:
    """Serve in the foreground until Ctrl-C, then release the port."""
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@contextlib.contextmanager
def in_background(server: S, name: str) -> Iterator[S]:
    """Serve from a daemon thread for the duration of the block, then shut down and close."""
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
