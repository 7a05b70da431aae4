"""The client against the simulator over real loopback HTTP."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from neo.sim.server import SimHTTPServer
from neo.sources.errors import (
    ApiPermissionError,
    BadRequestError,
    CredentialError,
    PagingError,
    RetriesExhaustedError,
    UnknownApiError,
)
from neo.sources.quota import QuotaGate
from neo.sources.tushare import TushareClient
from tests.conftest import TOKEN, client_settings

Sim = Callable[..., SimHTTPServer]


def test_pages_past_the_row_cap_and_types_the_result(sim: Sim, tmp_path: Path) -> None:
    server = sim(caps={"daily": 7})
    with TushareClient(client_settings(server, tmp_path, row_caps={"daily": 7})) as client:
        paged = client.query("daily", {"trade_date": "20240102"})
        assert client.stats["pages"] >= 2
    big = sim()
    with TushareClient(client_settings(big, tmp_path)) as client:
        whole = client.query("daily", {"trade_date": "20240102"})
    assert paged.num_rows > 7 and paged.equals(whole)
    assert paged.schema.field("trade_date").type == pa.date32()
    assert paged.schema.field("close").type == pa.float64()


def test_a_server_that_ignores_offset_is_caught(sim: Sim, tmp_path: Path) -> None:
    liar = sim(caps={"adj_factor": 30}, ignore_offset=True)
    honest = sim()
    params = {"ts_code": "", "start_date": "20240101", "end_date": "20240131"}
    with TushareClient(client_settings(liar, tmp_path, row_caps={"adj_factor": 30})) as client:
        split = client.query("adj_factor", params)  # recovers by splitting the date range
        assert client.stats["splits"] > 0
        with pytest.raises(PagingError, match="ignores offset"):
            client.query("adj_factor", {"ts_code": liar.sim.market.ts_codes[0]})  # no range to split: loud
    with TushareClient(client_settings(honest, tmp_path)) as client:
        expected = client.query("adj_factor", params)
    assert split.sort_by([("trade_date", "descending"), ("ts_code", "ascending")]).equals(expected)


@pytest.mark.parametrize(
    ("setup", "api", "error"),
    [
        ({"token": "the-real-one"}, "daily", CredentialError),
        ({}, "no_such_api", UnknownApiError),
        ({"deny": frozenset({"daily"})}, "daily", ApiPermissionError),
    ],
)
def test_fatal_errors_fail_fast(sim: Sim, tmp_path: Path, setup: dict, api: str, error: type) -> None:
    server = sim(**setup)
    with TushareClient(client_settings(server, tmp_path)) as client, pytest.raises(error) as err:
        client.query(api, {"trade_date": "20240102"})
    assert client.stats["requests"] == 1 and client.stats["retries"] == 0
    assert TOKEN not in str(err.value) and "\n" not in str(err.value)


def test_bad_field_is_a_bad_request(sim: Sim, tmp_path: Path) -> None:
    with (
        TushareClient(client_settings(sim(), tmp_path)) as client,
        pytest.raises(BadRequestError, match="-2001"),
    ):
        client.query("trade_cal", fields="exchange_id")


def test_server_quota_replies_wait_for_the_window(sim: Sim, tmp_path: Path) -> None:
    server = sim(quota=3, quota_window=0.5)
    with TushareClient(client_settings(server, tmp_path, quota_window=0.5, quota_waits=10)) as client:
        started = time.monotonic()
        tables = [
            client.query("trade_cal", {"start_date": "20240101", "end_date": "20240105"}) for _ in range(7)
        ]
        elapsed = time.monotonic() - started
    assert all(t.num_rows == 5 for t in tables)
    assert client.stats["quota_waits"] >= 1 and elapsed >= 0.5
    assert server.sim.snapshot()["quota_rejections"] >= 1


def test_client_side_quota_keeps_the_server_from_ever_refusing(sim: Sim, tmp_path: Path) -> None:
    server = sim(quota=4, quota_window=0.5)
    settings = client_settings(server, tmp_path, quota_window=0.5, default_quota=4)
    with TushareClient(settings, quota=QuotaGate(settings)) as client:
        started = time.monotonic()
        for _ in range(10):
            client.query("trade_cal", {"start_date": "20240101", "end_date": "20240103"})
        elapsed = time.monotonic() - started
    assert server.sim.snapshot().get("quota_rejections", 0) == 0
    assert elapsed >= 2 * 0.5  # 10 calls at 4 per 0.5 s need at least two full windows


QUOTA_WORKER = """
import sys, threading
from pathlib import Path
from neo.core.config import load_settings
from neo.sources.quota import QuotaGate
from neo.sources.tushare import TushareClient
s = load_settings(home=Path(sys.argv[2]), tushare_url=sys.argv[1], token="tok", quota_window=1.0,
                  default_quota=6, timeout=5)
gate = QuotaGate(s)
client = TushareClient(s, quota=gate)
def work():
    for _ in range(3):
        client.query("trade_cal", {"start_date": "20240101", "end_date": "20240102"})
threads = [threading.Thread(target=work) for _ in range(3)]
[t.start() for t in threads]; [t.join() for t in threads]
print(client.stats["requests"], client.stats["quota_waits"])
"""


def test_quota_holds_across_threads_and_processes(sim: Sim, tmp_path: Path) -> None:
    server = sim(quota=6, quota_window=1.0)
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", QUOTA_WORKER, server.url, str(tmp_path)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=60)[0].split() for p in procs]
    elapsed = time.monotonic() - started
    assert all(p.returncode == 0 for p in procs)
    assert [o[1] for o in outputs] == ["0", "0"]  # nobody had to wait out a server refusal
    assert server.sim.snapshot().get("quota_rejections", 0) == 0
    assert elapsed >= (18 / 6 - 1) * 1.0  # 18 calls at 6 per window need at least two more windows


def test_twenty_percent_faults_every_call_still_succeeds(sim: Sim, tmp_path: Path) -> None:
    faulty = sim(
        faults={"http_5xx": 0.04, "slow": 0.04, "quota": 0.04, "malformed": 0.04, "db_error": 0.04},
        slow_ms=600,
        caps={"daily": 9},
    )
    clean = sim(caps={"daily": 9})
    days = ["20240102", "20240103", "20240104", "20240105", "20240108", "20240109", "20240110", "20240111"]
    opts = {"timeout": 0.3, "retries": 12, "quota_waits": 20, "quota_window": 0.05, "row_caps": {"daily": 9}}
    with TushareClient(client_settings(faulty, tmp_path, **opts)) as client:
        got = [client.query("daily", {"trade_date": d}) for d in days]
        got += [client.query("income_vip", {"period": "20231231"})]
    with TushareClient(client_settings(clean, tmp_path, **opts)) as client:
        want = [client.query("daily", {"trade_date": d}) for d in days]
        want += [client.query("income_vip", {"period": "20231231"})]
    assert all(g.equals(w) for g, w in zip(got, want, strict=True))
    injected = {k for k, v in faulty.sim.snapshot().items() if k.startswith("fault_") and v}
    assert len(injected) >= 3, injected  # several kinds of fault really happened


@pytest.mark.parametrize("kind", ["http_5xx", "malformed", "db_error", "slow"])
def test_persistent_failures_fail_loudly_never_as_no_data(sim: Sim, tmp_path: Path, kind: str) -> None:
    server = sim(faults={kind: 1.0}, slow_ms=500)
    with (
        TushareClient(client_settings(server, tmp_path, retries=2, timeout=0.2)) as client,
        pytest.raises(RetriesExhaustedError, match="failed after 3 attempts") as err,
    ):
        client.query("daily", {"trade_date": "20240102"})
    assert client.stats["requests"] == 3
    assert "\n" not in str(err.value)


def test_connection_refused_is_retried_then_loud(tmp_path: Path, sim: Sim) -> None:
    server = sim()
    settings = client_settings(server, tmp_path, retries=1, tushare_url="http://127.0.0.1:9")
    with TushareClient(settings) as client, pytest.raises(RetriesExhaustedError, match="connection failed"):
        client.query("daily")


def test_the_token_never_reaches_logs_or_errors(
    sim: Sim, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from neo.core import logs

    logs.install_redaction(logging.getLogger())
    caplog.handler.addFilter(logs.RedactFilter())
    server = sim(faults={"http_5xx": 0.5}, token="something-else")
    caplog.set_level(logging.DEBUG)
    with TushareClient(client_settings(server, tmp_path, retries=3)) as client:
        with pytest.raises(CredentialError) as err:
            for _ in range(5):
                client.query("daily", {"trade_date": "20240102"})
        logging.getLogger("neo.test").warning("leak attempt: %s", TOKEN)
        assert TOKEN not in repr(client)
    assert TOKEN not in str(err.value) and TOKEN not in repr(err.value)
    assert caplog.records and all(TOKEN not in r.getMessage() for r in caplog.records)
    assert TOKEN not in caplog.text
