"""Concurrency: downloads, compaction, vacuum and a reader querying in a loop, all at once."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from neo.sim.server import SimHTTPServer
from tests.reliability.common import env_for, lake_problems, market, neo
from tests.reliability.conftest import Scale

READER = """
import json, sys
from pathlib import Path
import neo
stop = Path(sys.argv[1])
checks = {
    "daily": "ts_code, trade_date",
    "adj_factor": "ts_code, trade_date",
    "stock_basic": "ts_code",
}
queries, failures, shrank, last = 0, [], 0, {}
while not stop.exists():
    try:
        con = neo.connect()  # a new connection per query, as an analyst's script would make
        for view, key in checks.items():
            rows, keys = con.sql(f"SELECT count(*), count(DISTINCT ({key})) FROM {view}").fetchone()
            if rows != keys:
                failures.append(f"{view}: {rows} rows for {keys} keys")
            shrank += rows < last.get(view, 0)
            last[view] = max(rows, last.get(view, 0))
        con.close()
    except Exception as exc:
        failures.append(f"{type(exc).__name__}: {exc}")
        continue
    queries += 1
print(json.dumps({"queries": queries, "failures": failures[:5], "failed": len(failures), "shrank": shrank}))
"""


def test_ingestion_compaction_vacuum_and_queries_at_once(
    sim: Callable[..., SimHTTPServer], tmp_path: Path, scale: Scale, record: Callable
) -> None:
    row = record(
        f"concurrency: `neo download` (then `--refetch` of revised data) + `neo compact` + "
        f"`neo vacuum --older-than 2s` + a reader, all at once for at least {scale.seconds:.0f} s",
        1,
        "zero failed queries; every query sees one row per key; counts never shrink; downloads exit 0; "
        "final lake = reference (latest revision); `neo verify` passes",
    )
    server = sim(**vars(market(scale, latency_ms=20, revise_rate=0.05)))
    home = tmp_path / "data"
    env = env_for(server, home)
    end = scale.end.strftime("%Y%m%d")
    assert neo("download", "trade_cal", "stock_basic", "--end", end, env=env).returncode == 0
    assert neo("sync", env=env).returncode == 0
    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(stop)], env=env, stdout=subprocess.PIPE, text=True
    )
    downloads: list[subprocess.CompletedProcess[str]] = []

    def ingest() -> None:
        started = time.monotonic()
        downloads.append(neo("download", "--end", end, env=env))
        while time.monotonic() - started < scale.seconds:
            downloads.append(neo("download", "--refetch", "daily", "adj_factor", "--end", end, env=env))

    ingestion = threading.Thread(target=ingest)
    ingestion.start()
    maintenance = 0
    while ingestion.is_alive() or maintenance < 2:
        for args in (["compact"], ["vacuum", "--older-than", "2s"]):
            out = neo(*args, env=env)
            assert out.returncode == 0, out.stderr
        maintenance += 1
    ingestion.join()
    stop.touch()
    out, _ = reader.communicate(timeout=120)
    report = json.loads(out)
    assert all(d.returncode == 0 for d in downloads), [d.stderr for d in downloads if d.returncode]
    assert report["failed"] == 0, report
    assert report["shrank"] == 0 and report["queries"] > 10, report
    row.notes.append(
        f"{len(downloads)} downloads, {maintenance} compact+vacuum runs, {report['queries']} queries, "
        f"{server.sim.snapshot().get('revised_rows', 0)} rows revised at the source"
    )
    assert lake_problems(home, server, scale.end) == {}
    verify = neo("verify", env=env)
    assert verify.returncode == 0, verify.stdout + verify.stderr
