"""Helpers the reliability scenarios share: simulators, `neo` runs, and the final lake check."""

from __future__ import annotations

import os
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

from neo.core.config import Settings, load_settings
from neo.lake.catalog import open_lake
from neo.sim.server import SimConfig, SimHTTPServer
from tests.conftest import TOKEN
from tests.reliability.conftest import DATASETS, START, Scale
from tests.reliability.reference import Diff, compare
from tests.support.processes import neo_command

NEO = neo_command()
FAULT_KINDS = ("http_5xx", "slow", "quota", "malformed", "db_error")
# Short timeouts and backoffs so that faults cost milliseconds, and enough retries that 30% of
# faults cannot exhaust them (0.3^13 per request).
FAST_ENV = {
    "NEO_TIMEOUT": "0.4",
    "NEO_RETRIES": "12",
    "NEO_BACKOFF_BASE": "0.01",
    "NEO_BACKOFF_MAX": "0.05",
    "NEO_QUOTA_WAITS": "30",
    "NEO_QUOTA_WINDOW": "0.2",
    "NEO_DEFAULT_QUOTA": "0",
    "NEO_QUOTAS__stock_basic": "0",
    "NEO_TASK_RETRY_DELAY": "0.05",
    "NEO_SYNC_MINUTES": "0",
    "NEO_COMPACT_CRON": "",
    "NEO_FSYNC": "0",
    "NEO_HISTORY_START": START.strftime("%Y%m%d"),
    # Minute bars (opt-in): every stock, and the indices the reference expects.
    "NEO_MINUTE_STOCKS": '["all"]',
    "NEO_MINUTE_INDICES": '["000300.SH", "000905.SH"]',
}
# The same, for scenarios that build their Settings in-process.
MINUTE_SETTINGS: dict[str, Any] = {"minute_stocks": ["all"], "minute_indices": ["000300.SH", "000905.SH"]}


def market(scale: Scale, **overrides: Any) -> SimConfig:
    return SimConfig(**{"stocks": scale.stocks, "start": START, "end": scale.end, "seed": 7, **overrides})


def env_for(server: SimHTTPServer | None, home: Path, **extra: str) -> dict[str, str]:
    """The environment of a `neo` command against `server`, isolated from the developer's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEO_") and k != "TUSHARE_TOKEN"}
    env |= {**FAST_ENV, "NEO_HOME": str(home), "NEO_CONFIG": str(home.parent / "absent-neo.toml")}
    if server is not None:
        env |= {"NEO_TUSHARE_URL": server.url, "TUSHARE_TOKEN": TOKEN}
    return env | extra


def neo(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NEO, *args], env=env, capture_output=True, text=True, timeout=timeout)


def popen(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*NEO, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def settings_of(env: dict[str, str]) -> Settings:
    """The settings a `neo` command with `env` uses, for reading its lake and ledger in-process."""
    return load_settings(home=Path(env["NEO_HOME"]))


def lake_problems(home: Path, server: SimHTTPServer, end: date) -> dict[str, Diff]:
    """{} when every view of the lake under `home` equals the reference from the simulator's data."""
    con = open_lake(load_settings(home=home))
    try:
        return compare(con, server.sim, START, end, list(DATASETS))
    finally:
        con.close()


def assert_one_line_error(out: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert out.returncode != 0, f"exit 0 for what should fail: {out.stdout}"
    err = out.stderr.strip()
    assert "Traceback" not in err, err
    # `neo download` draws its progress table on stderr; the error is its one last line.
    errors = [line for line in err.splitlines() if line.startswith("error") or " ERROR " in line]
    assert len(errors) == 1 and err.splitlines()[-1] == errors[0], err
    assert errors[0].startswith("error: "), err
    for n in needles:
        assert n in err, err
    assert TOKEN not in out.stdout + out.stderr
