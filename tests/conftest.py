from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import date
from pathlib import Path
from typing import IO, Any

import pytest

from neo.core.config import Settings, load_settings
from neo.sim.server import SimConfig, SimHTTPServer, running

# What the pipeline and reliability tests download: the first eleven datasets and one of each way of
# downloading the research datasets added (code_windows, stock_history, periods by end_date, a
# snapshot with twin rows). Their per-day datasets (suspend_d, stk_limit, moneyflow) download like
# daily. `make reliability` (RELIABILITY=full) downloads every dataset; test_research.py does too.
FIRST_DATASETS = (  # the eleven datasets neo started with
    "stock_basic",
    "trade_cal",
    "daily",
    "daily_basic",
    "adj_factor",
    "weekly",
    "monthly",
    "income",
    "balancesheet",
    "cashflow",
    "fina_indicator",
)
CORE_DATASETS = (*FIRST_DATASETS, "index_weight", "dividend", "disclosure_date", "namechange")
ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
TOKEN = "t0ken-for-tests-0123456789abcdef"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's neo.toml or NEO_* variables."""
    for key in list(os.environ):
        if key.startswith("NEO_") or key == "TUSHARE_TOKEN":
            monkeypatch.delenv(key)
    monkeypatch.setenv("NEO_CONFIG", str(tmp_path / "absent-neo.toml"))


@pytest.fixture
def sim() -> Iterator[Callable[..., SimHTTPServer]]:
    """Start simulators on free loopback ports: `sim(stocks=20, caps={...})`."""
    with ExitStack() as stack:

        def start(**overrides: Any) -> SimHTTPServer:
            cfg = {"stocks": 20, "start": date(2024, 1, 1), "end": date(2024, 6, 30), "seed": 11, **overrides}
            return stack.enter_context(running(SimConfig(**cfg)))

        yield start


def client_settings(server: SimHTTPServer, home: Path, **overrides: Any) -> Settings:
    """Fast settings for tests: short timeouts and backoffs, no client-side quota unless asked."""
    values: dict[str, Any] = {
        "home": home,
        "tushare_url": server.url,
        "token": TOKEN,
        "timeout": 2.0,
        "backoff_base": 0.01,
        "backoff_max": 0.05,
        "quota_window": 0.2,
        "default_quota": 0,
        "quotas": {"stock_basic": 0},
        **overrides,
    }
    return load_settings(**values)


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll for an observable state (a ledger row, a file, a printed line) rather than sleep a fixed
    time: `timeout` is only a generous deadline for a hung run, never what a test relies on."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A real redis-server on a free loopback port (make test installs Debian's package)."""
    import shutil
    import subprocess

    from tests.support.processes import free_port, wait_for_port

    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed (make test installs it with apt-get where it can)")
    port = free_port()
    proc = subprocess.Popen(
        [server, "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    assert wait_for_port(port, 30), "redis-server did not start"
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)


def read_line(stream: IO[str], timeout: float, what: str) -> str:
    """The next line a child process prints (stripped; "" once it exited), with a deadline for a
    child that hangs instead."""
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not line:
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
    return line[0].strip()
