"""metadata.db across DuckDB majors: a lake synced by neo on the installed DuckDB is opened by the
other major (1.5.6 and 1.4.4 when 2.x is installed, 2.0.1 when 1.x is), and its views and table
macros answer there exactly as here; a metadata.db written by neo on the older major is read and
synced again by neo on the newer (a user upgrading); and sync names its storage version itself.

The other DuckDB is installed once with `pip install --target` under .cache/duckdb/ (kept between
runs, ignored by git) and used from subprocesses only. Without the package index these tests skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from filelock import FileLock

from neo.core.config import Settings, load_settings
from neo.datasets import DATASETS
from neo.lake import catalog, engine, research
from neo.lake.compact import compact
from neo.lake.writer import ParquetWriter
from neo.sim.server import SimConfig, Simulator
from tests.conftest import ROOT
from tests.reliability.reference import expected_table

INSTALLED = duckdb.__version__
NEWER_MAJOR = int(INSTALLED.split(".")[0]) >= 2
# The other major: the current 1.5 and the 1.4 LTS line when 2.x is installed.
OTHERS = ["1.5.6", "1.4.4"] if NEWER_MAJOR else ["2.0.1"]
CACHE = ROOT / ".cache" / "duckdb"
START, END = date(2023, 10, 1), date(2024, 3, 31)
AS_OF = "DATE '2024-03-15'"
MINUTES_FROM = date(2024, 3, 11)
TAGS = "SELECT tags FROM duckdb_databases() WHERE database_name ="

# Runs in a subprocess on the DuckDB given: opens metadata.db read-only as an analyst would, runs
# each query and prints its rows as JSON (floats to 12 digits, other values as text).
PROBE = """
import json, math, sys
import duckdb
job = json.load(sys.stdin)
con = duckdb.connect(job["path"], read_only=True)

def cell(v):
    if isinstance(v, float):
        return float(f"{v:.12g}") if math.isfinite(v) else str(v)
    return v if v is None or isinstance(v, (bool, int, str)) else str(v)

tags = con.execute("SELECT tags FROM duckdb_databases() WHERE database_name = current_database()").fetchall()
out = {"version": duckdb.__version__, "storage": dict(tags[0][0]).get("storage_version"), "results": {}}
for name, sql in job["queries"]:
    try:
        out["results"][name] = [[cell(v) for v in row] for row in con.execute(sql).fetchall()]
    except duckdb.Error as exc:
        out["results"][name] = "error: " + str(exc).splitlines()[0]
print(json.dumps(out))
"""


def other_duckdb(version: str) -> Path:
    """A directory holding DuckDB `version` for PYTHONPATH, installed there on first use."""
    CACHE.mkdir(parents=True, exist_ok=True)
    target = CACHE / version
    with FileLock(str(CACHE / f"{version}.lock")):
        if (target / "duckdb").is_dir():
            return target
        tmp = CACHE / f".{version}.{os.getpid()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        command += [
            "--no-deps",
            "--retries",
            "1",
            "--timeout",
            "20",
            "--target",
            str(tmp),
            f"duckdb=={version}",
        ]
        run = subprocess.run(command, capture_output=True, text=True, timeout=600)
        if run.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            lines = [
                ln for ln in run.stderr.splitlines() if ln.startswith("ERROR")
            ] or run.stderr.splitlines()
            reason = lines[-1] if lines else f"exit {run.returncode}"
            pytest.skip(f"pip could not install duckdb=={version} from the package index: {reason}")
        os.replace(tmp, target)
    return target


def python(code: str, duckdb_dir: Path | None, *args: str, stdin: str = "") -> str:
    """Run `code` in a Python with DuckDB from `duckdb_dir` (None: the installed one) and this
    checkout's neo first on the path; its stdout."""
    paths = [str(ROOT / "src"), str(ROOT)]
    if duckdb_dir is not None:
        paths.insert(0, str(duckdb_dir))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*paths, os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run(
        [sys.executable, "-c", code, *args], input=stdin, env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    return run.stdout


def probe(path: Path, queries: list[tuple[str, str]], duckdb_dir: Path | None) -> dict[str, Any]:
    out = json.loads(python(PROBE, duckdb_dir, stdin=json.dumps({"path": str(path), "queries": queries})))
    # Row order is the engine's choice; compare as sets of rows, kept as sorted lists.
    out["results"] = {
        k: sorted(v, key=json.dumps) if isinstance(v, list) else v for k, v in out["results"].items()
    }
    return out


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Six months of a small simulated market written straight from the simulator (no download):
    every dataset, daily compacted and then revised on its last day, so its view has both forms."""
    settings = load_settings(home=tmp_path_factory.mktemp("duckdb-versions") / "data", fsync=False)
    sim = Simulator(SimConfig(stocks=12, start=date(2023, 1, 1), end=END, seed=5))
    writer = ParquetWriter(settings.lake_dir, settings.rejected_dir, fsync=False)
    at = datetime(2024, 4, 1, tzinfo=UTC)
    for spec in DATASETS.values():
        start = MINUTES_FROM if spec.freq else START  # minute bars: a week, around AS_OF
        writer.write(expected_table(sim, spec, start, END), spec, batch_id="all", fetched_at=at)
    daily = DATASETS["daily"]
    compact(settings, [daily])
    last = expected_table(sim, daily, END - timedelta(days=3), END)
    writer.write(last, daily, batch_id="again", fetched_at=at + timedelta(hours=1))
    catalog.sync(settings)
    yield settings


@pytest.fixture(scope="module")
def asked(lake: Settings) -> list[tuple[str, str]]:
    """Every view and table macro of metadata.db, read whole."""
    out = [(name, f"SELECT * FROM {engine.q(name)}") for name in catalog.views(lake.lake_dir)]
    con = catalog.open_lake(lake)
    try:
        code = engine.first_row(con, "SELECT min(index_code) FROM index_weight")
    finally:
        con.close()
    assert code is not None and code[0] is not None
    for name, (params, _) in research.macros().items():
        value = {"code": engine.lit(code[0]), "n": "30"}  # n: minutes a bar
        args = ", ".join(value.get(p, AS_OF) for p in params)
        out.append((name, f"SELECT * FROM {engine.q(name)}({args})"))
    out.append(
        ("neo_datasets", "SELECT name, api, key, date_column, strategy, description FROM neo_datasets")
    )
    return out


@pytest.fixture(scope="module")
def here(lake: Settings, asked: list[tuple[str, str]]) -> dict[str, Any]:
    """The answers of the installed DuckDB."""
    return probe(lake.metadata_db, asked, None)


def copy_home(settings: Settings, to: Path) -> Settings:
    shutil.copytree(settings.home, to / "data")
    return load_settings(home=to / "data", fsync=False)


@pytest.mark.parametrize("version", OTHERS)
def test_the_other_major_reads_metadata_db_as_written_here(
    lake: Settings, asked: list[tuple[str, str]], here: dict[str, Any], version: str
) -> None:
    there = probe(lake.metadata_db, asked, other_duckdb(version))
    assert (here["version"], there["version"]) == (INSTALLED, version)
    assert here["storage"] == there["storage"]
    assert here["storage"].startswith(catalog.STORAGE_VERSION), here["storage"]
    for name, _ in asked:
        assert isinstance(here["results"][name], list), (name, here["results"][name])
        assert there["results"][name] == here["results"][name], (version, name)
    # Not a comparison of empty answers: the views and macros analysts start from hold rows.
    for name in (
        "daily",
        "daily_qfq",
        "tradability",
        "income_asof",
        "fundamentals_asof",
        "index_members_asof",
        "stk_mins_qfq",
        "stk_mins_bars",
        "stk_mins_vwap",
    ):
        assert here["results"][name], name


UPGRADE = """
import json, sys
import duckdb
import neo
from neo.core.config import load_settings
from neo.lake.catalog import sync

settings = load_settings(home=sys.argv[1], fsync=False)
out = {"version": duckdb.__version__}
if sys.argv[2] == "read":  # as neo.connect() finds it, then synced again
    con = neo.connect(settings)
    out["before"] = con.execute(sys.argv[3]).fetchall()
    con.close()
sync(settings)
con = neo.connect(settings)
out["after"] = con.execute(sys.argv[3]).fetchall()
con.close()
print(json.dumps(out, default=str))
"""


def test_neo_on_the_newer_major_reads_and_syncs_a_metadata_db_from_the_older(
    lake: Settings, tmp_path: Path
) -> None:
    older = other_duckdb(OTHERS[0]) if NEWER_MAJOR else None
    newer = None if NEWER_MAJOR else other_duckdb(OTHERS[0])
    settings = copy_home(lake, tmp_path)
    sql = (
        "SELECT count(*), count(DISTINCT ts_code), max(trade_date) FROM daily UNION ALL "
        f"SELECT count(*), count(DISTINCT ts_code), NULL FROM income_asof({AS_OF})"
    )
    made = json.loads(python(UPGRADE, older, str(settings.home), "sync", sql))
    again = json.loads(python(UPGRADE, newer, str(settings.home), "read", sql))
    assert int(made["version"][0]) < 2 <= int(again["version"][0])
    assert made["after"] == again["before"] == again["after"]
    assert made["after"][0][0] > 0 and made["after"][1][0] > 0
    # Synced again by the newer major, still readable by the older.
    back = probe(settings.metadata_db, [("daily", "SELECT count(*) FROM daily")], older)
    assert back["results"]["daily"] == [[made["after"][0][0]]]


def test_sync_names_the_storage_version_whatever_the_default(
    lake: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A DuckDB whose default is its newest format (2.x's default; here forced on 1.x too) still
    writes metadata.db in catalog.STORAGE_VERSION: sync asks for it rather than rely on a default."""
    connect = engine.connect

    def newest_by_default(*args: Any, **config: Any) -> duckdb.DuckDBPyConnection:
        return connect(*args, **{"storage_compatibility_version": "latest", **config})

    monkeypatch.setattr(engine, "connect", newest_by_default)
    settings = copy_home(lake, tmp_path)
    catalog.sync(settings)
    # The premise: a file attached without a storage version gets a newer one here.
    scratch = engine.connect(settings)
    try:
        scratch.execute(f"ATTACH {engine.lit(str(tmp_path / 'scratch.db'))} AS scratch")
        default = engine.first_row(scratch, f"{TAGS} 'scratch'")
    finally:
        scratch.close()
    con = duckdb.connect(str(settings.metadata_db), read_only=True)
    try:
        written = engine.first_row(con, f"{TAGS} current_database()")
    finally:
        con.close()
    assert default is not None and written is not None
    assert not dict(default[0])["storage_version"].startswith(catalog.STORAGE_VERSION), default
    assert dict(written[0])["storage_version"].startswith(catalog.STORAGE_VERSION), written
