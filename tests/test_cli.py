"""The commands as a user runs them: real processes, real loopback HTTP."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from neo.cli import main
from neo.datasets import DATASETS
from neo.lake import research
from tests.conftest import TOKEN
from tests.support.processes import neo_command, spawn

NEO = neo_command()


def neo(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("NEO_") and k != "TUSHARE_TOKEN"}
    full_env |= {"NEO_CONFIG": "/nonexistent/neo.toml", **(env or {})}
    return subprocess.run([*NEO, *args], capture_output=True, text=True, env=full_env, timeout=timeout)


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    """`neo sim serve` as a separate process, as a user would start it."""
    proc, url = spawn(
        "--stocks", "15", "--start", "20240101", "--end", "20240331", "--token", TOKEN, timeout=30
    )
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def test_fetch_prints_csv_json_and_a_table(served: str) -> None:
    env = {"NEO_TUSHARE_URL": served, "TUSHARE_TOKEN": TOKEN}
    out = neo("fetch", "daily", "-p", "trade_date=20240102", "--format", "csv", env=env)
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert len(rows) >= 10 and rows[0]["trade_date"] == "2024-01-02"
    assert all(float(r["low"]) <= float(r["close"]) <= float(r["high"]) for r in rows)
    out = neo(
        "fetch",
        "stock_basic",
        "-p",
        "list_status=D",
        "--fields",
        "ts_code,list_status,delist_date",
        "--format",
        "json",
        env=env,
    )
    assert out.returncode == 0, out.stderr
    assert all(r["list_status"] == "D" for r in json.loads(out.stdout))
    out = neo("fetch", "trade_cal", "-p", "start_date=20240101", "-p", "end_date=20240110", env=env)
    assert out.returncode == 0 and "cal_date" in out.stdout and "10 rows" in out.stdout
    assert TOKEN not in out.stdout + out.stderr


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["fetch", "daily"], {}, "TUSHARE_TOKEN is not set"),
        (["fetch", "daily", "-p", "trade_date"], {"TUSHARE_TOKEN": "x"}, "expected KEY=VALUE"),
        (
            ["fetch", "daily"],
            {"TUSHARE_TOKEN": "wrong-token", "NEO_TUSHARE_URL": "{url}"},
            "token was rejected",
        ),
        (["fetch", "dialy"], {"TUSHARE_TOKEN": TOKEN, "NEO_TUSHARE_URL": "{url}"}, "does not know this API"),
        (["fetch", "daily"], {"TUSHARE_TOKEN": "x", "NEO_TIMEOUT": "soon"}, "bad setting timeout"),
        (["sim", "serve", "--start", "2024-01-01"], {}, "expected YYYYMMDD"),
        (["download", "dialy"], {"TUSHARE_TOKEN": "x"}, "unknown dataset 'dialy'"),
        (["download"], {}, "TUSHARE_TOKEN is not set"),
        (["dl", "--start", "2024-01-01"], {"TUSHARE_TOKEN": "x"}, "expected YYYYMMDD"),
        (["dp", "fast"], {}, "TUSHARE_TOKEN is not set"),
        (
            ["dl", "--start", "20240105", "--end", "20240101"],
            {"TUSHARE_TOKEN": TOKEN, "NEO_TUSHARE_URL": "{url}", "NEO_HOME": "{tmp}"},
            "is before --start",
        ),
        (["sim", "serve", "--start", "20240105", "--end", "20240101"], {}, "is before --start"),
    ],
)
def test_bad_input_is_one_line_and_non_zero(
    served: str, tmp_path: Path, args: list[str], env: dict, message: str
) -> None:
    out = neo(*args, env={k: v.format(url=served, tmp=tmp_path) for k, v in env.items()})
    assert out.returncode != 0
    assert message in out.stderr and "Traceback" not in out.stderr
    assert out.stderr.strip().count("\n") == 0, out.stderr
    if "TUSHARE_TOKEN is not set" in message:
        assert "neo demo" in out.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", "--port", "99999"], "neo serve: Invalid value for '--port'"),
        (["serve", "--port", "abc"], "neo serve: Invalid value for '--port'"),
        (["sim", "serve", "--fault-rate", "2"], "neo sim serve: Invalid value for '--fault-rate'"),
        (["dp", "fast", "--workers", "0"], "neo dp: Invalid value for '--workers'"),
        (["dp", "medium"], "'medium'"),
        (["dp"], "neo dp: Missing argument"),
        (["query"], "neo query: Missing argument"),
        (["query", "SELECT 1", "--format", "xml"], "'xml'"),
        (["verify", "--keys", "0"], "neo verify: Invalid value for '--keys'"),
        (["status", "--bogus"], "No such option: --bogus"),
        (["download", "--codes"], "'--codes' requires an argument"),
        (["nosuch"], "No such command 'nosuch'"),
    ],
)
def test_command_line_mistakes_are_one_error_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ranges, choices, types, missing arguments, unknown options and commands: Click's own checks
    end as one `error:` line and exit 2, like neo's, not as its usage box."""
    monkeypatch.setattr(sys, "argv", ["neo", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    out = capsys.readouterr()
    assert exited.value.code == 2
    assert out.err.startswith("error: ") and out.err.count("\n") == 1 and message in out.err, out.err
    assert "--help" in out.err and "Usage" not in out.err and not out.out


def test_a_port_out_of_range_is_one_line_from_the_real_command() -> None:
    out = neo("serve", "--port", "99999")
    assert out.returncode == 2 and not out.stdout
    assert (
        out.stderr.startswith("error: neo serve: Invalid value for '--port'") and out.stderr.count("\n") == 1
    )


def test_help_lists_the_commands() -> None:
    out = neo("--help")
    assert out.returncode == 0
    for command in ("fetch", "demo", "sim", "datasets", "download", "dl", "dp", "status", "sync", "query"):
        assert command in out.stdout
    assert "--fault-rate" in neo("sim", "serve", "--help").stdout


def test_demo_runs_the_pipeline_offline_and_queries_it(tmp_path: Path) -> None:
    env = {"NEO_HOME": str(tmp_path / "data")}
    out = neo("demo", env=env, timeout=180)
    assert out.returncode == 0, out.stderr
    for text in (
        "through the fast and slow queues",
        "injected faults absorbed",
        "0 failed",
        "metadata.db synced",
        "one row per key",
        "ex-dividend day",
        "cross-section",
        "income_latest",
    ):
        assert text in out.stdout, text
    demo_env = {"NEO_HOME": str(tmp_path / "data" / "demo")}
    sql = "SELECT count(*) AS n, count(DISTINCT (ts_code, trade_date)) AS k FROM daily"
    first = json.loads(neo("query", sql, "--format", "json", env=demo_env).stdout)[0]
    assert first["n"] == first["k"] > 1000
    second = neo("demo", env=env, timeout=180)
    assert second.returncode == 0 and "nothing to download" in second.stdout  # the ledger knows
    again = json.loads(neo("query", sql, "--format", "json", env=demo_env).stdout)[0]
    assert again == first


def test_status_of_an_empty_lake(tmp_path: Path) -> None:
    out = neo("status", env={"NEO_HOME": str(tmp_path)})
    assert out.returncode == 0 and "daily" in out.stdout and "fast 0 waiting" in out.stdout


def test_sync_and_query_commands(tmp_path: Path) -> None:
    env = {"NEO_HOME": str(tmp_path)}
    out = neo("sync", env=env)
    # A view per dataset, one *_latest per versioned dataset, daily_hfq and daily_qfq, the research views.
    views = (
        len(DATASETS) + sum(s.latest_key is not None for s in DATASETS.values()) + 2 + len(research.views())
    )
    assert out.returncode == 0 and f"{views} views" in out.stdout
    macros = research.macros()
    assert f"{len(macros)} table macros (" in out.stdout and "index_members_asof(code, d)" in out.stdout
    assert all(f"{name}(" in out.stdout for name in macros)
    out = neo("query", "SELECT name, key FROM neo_datasets WHERE name = 'daily'", "-f", "csv", env=env)
    assert out.returncode == 0
    assert list(csv.DictReader(io.StringIO(out.stdout))) == [{"name": "daily", "key": "ts_code,trade_date"}]
    target = tmp_path / "out.parquet"
    out = neo("query", "SELECT * FROM daily_qfq", "-f", "parquet", "-o", str(target), env=env)
    assert out.returncode == 0 and target.exists() and "wrote 0 rows" in out.stderr
    for bad, message in (("SELEC 1", "syntax error"), ("DROP VIEW daily", "read-only")):
        out = neo("query", bad, env=env)
        assert out.returncode == 2 and message in out.stderr and out.stderr.count("\n") == 1
