"""Running `neo` and `neo sim serve` as processes of their own, for the tests and the benchmarks."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path


def neo_command() -> list[str]:
    script = Path(sys.executable).parent / "neo"
    return [str(script)] if script.exists() else [sys.executable, "-m", "neo.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def spawn(*args: str, timeout: float = 600) -> tuple[subprocess.Popen[bytes], str]:
    """Start `neo sim serve --port <free> ARGS...` and wait until it listens; returns (process, url)."""
    port = free_port()
    proc = subprocess.Popen(
        [*neo_command(), "sim", "serve", "--port", str(port), *args], stderr=subprocess.DEVNULL
    )
    if not wait_for_port(port, timeout):
        proc.kill()
        raise RuntimeError(f"neo sim serve did not start within {timeout:g}s")
    return proc, f"http://127.0.0.1:{port}"
