from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from neo.config import Settings, load_settings
from neo.sim.server import SimConfig, SimHTTPServer, running

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
