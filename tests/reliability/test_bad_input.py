"""Bad input: each a one-line error (no traceback), a non-zero exit, and nothing lost.

One lake is downloaded from the simulator per module; every case runs against its own copy and
checks afterwards that every file and every ledger entry is still there, and that the lake still
equals the reference.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from neo.core.dates import parse_day
from neo.core.errors import UsageError
from neo.datasets import get
from neo.lake import layout, manifest
from neo.sim.server import SimConfig, SimHTTPServer, running
from tests.conftest import TOKEN
from tests.reliability.common import assert_one_line_error, env_for, lake_problems, market, neo
from tests.reliability.conftest import DATASETS, FULL, SCALE

END = SCALE.end.strftime("%Y%m%d")


@pytest.fixture(scope="module")
def server() -> Iterator[SimHTTPServer]:
    with running(SimConfig(**{**vars(market(SCALE)), "token": TOKEN})) as s:
        yield s


@pytest.fixture(scope="module")
def built(server: SimHTTPServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("built") / "data"
    out = neo("download", *DATASETS, "--end", END, env=env_for(server, home))
    assert out.returncode == 0, out.stderr
    return home


@pytest.fixture
def home(built: Path, tmp_path: Path, server: SimHTTPServer) -> Path:
    copy = tmp_path / "data"
    shutil.copytree(built, copy)
    assert neo("sync", env=env_for(server, copy)).returncode == 0  # views name absolute paths
    return copy


def fingerprint(home: Path) -> tuple[dict[str, str], list[tuple]]:
    """Every Parquet file and manifest by content, and every ledger entry."""
    files = {
        str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((home / "parquet").rglob("*"))
        if p.is_file() and (p.suffix == ".parquet" or p.name == "_manifest.json")
    }
    con = sqlite3.connect(home / "state" / "ledger.sqlite")
    try:
        # Pending entries may be added (a plan is recorded before it runs); none may be done or failed.
        ledger = con.execute("SELECT * FROM requests WHERE status <> 'pending' ORDER BY 1, 2").fetchall()
    finally:
        con.close()
    return files, ledger


BAD_DATES = ["2024-01-01", "20241345", "yesterday"] + (
    ["2024", "20240230", "２０２４０１０２"] if FULL else []
)

CASES: list[tuple[str, list[str], dict[str, str], str]] = [
    (
        "bad token",
        ["download", "--refetch", "daily"],
        {"TUSHARE_TOKEN": "not-the-token"},
        "token was rejected",
    ),
    (  # the calendar is fresh, so the first call with the token is made by a download worker
        "bad token",
        ["download", "daily", "--codes", "000001.SZ"],
        {"TUSHARE_TOKEN": "not-the-token"},
        "token was rejected",
    ),
    ("no token", ["download"], {"TUSHARE_TOKEN": ""}, "TUSHARE_TOKEN is not set"),
    ("unknown dataset", ["download", "dialy"], {}, "unknown dataset 'dialy'"),
    ("unknown dataset", ["compact", "dialy"], {}, "unknown dataset 'dialy'"),
    ("unknown dataset", ["verify", "dialy"], {}, "unknown dataset 'dialy'"),
    *[("malformed date", ["download", "--start", d], {}, "expected YYYYMMDD") for d in BAD_DATES],
    ("malformed date", ["dl", "--end", "2024-02-29"], {}, "expected YYYYMMDD"),
    ("end before start", ["download", "--start", "20240201", "--end", "20240101"], {}, "is before --start"),
    ("end before start", ["dl", "--start", "20240201", "--end", "20240101"], {}, "is before --start"),
    ("unknown setting", ["download"], {"NEO_QUOTAA": "5"}, "unknown setting 'NEO_QUOTAA'"),
    ("bad setting value", ["download"], {"NEO_TIMEOUT": "soon"}, "bad setting timeout"),
    ("bad setting value", ["vacuum"], {"NEO_VACUUM_GRACE": "a while"}, "bad setting vacuum_grace"),
    ("bad duration", ["vacuum", "--older-than", "2 days"], {}, "bad"),
    ("bad SQL", ["query", "SELEKT 1"], {}, "SQL failed"),
    ("writing SQL", ["query", "DROP VIEW daily"], {}, "neo query is read-only"),
    ("SQL writing files", ["query", "COPY (SELECT * FROM daily) TO 'd.csv'"], {}, "COPY writes files"),
]


@pytest.mark.parametrize(
    ("what", "args", "extra", "needle"), CASES, ids=[f"{c[0]}: {' '.join(c[1])}" for c in CASES]
)
def test_bad_input_is_one_line_and_loses_nothing(
    server: SimHTTPServer,
    built: Path,
    what: str,
    args: list[str],
    extra: dict[str, str],
    needle: str,
    record: Callable,
) -> None:
    record(
        "bad input: " + ", ".join(sorted({c[0] for c in CASES})),
        1,
        "each a one-line `error:` (no traceback, no token), non-zero exit; every Parquet file, "
        "manifest and ledger entry unchanged",
    )
    before = fingerprint(built)
    out = neo(*args, env=env_for(server, built, **extra))
    assert_one_line_error(out, needle)
    assert fingerprint(built) == before


@given(st.text(max_size=12))
def test_any_malformed_day_is_a_usage_error(text: str) -> None:
    try:
        day = parse_day(text, "--start")
    except UsageError as exc:
        assert "\n" not in str(exc) and "expected YYYYMMDD" in str(exc)
    else:
        assert day.strftime("%Y%m%d") == text.strip()  # only real days in YYYYMMDD pass


def test_a_corrupt_parquet_file_in_the_lake(server: SimHTTPServer, home: Path, record: Callable) -> None:
    record(
        "a live Parquet file overwritten with random bytes; random bytes dropped into the lake under a "
        "fresh file's name, and under a foreign name",
        6,
        "the damaged file: `query`, `status`, `download` name it in one line and exit 1, `verify` "
        "lists it, `compact` leaves it untouched; the dropped files: never read (views list live "
        "files by name), `vacuum` leaves the foreign one alone; after removing the damaged file, "
        "`query` says to run `neo sync`, download refills it, compact forgets it, lake = reference",
    )
    env = env_for(server, home)
    partition = home / "parquet" / "daily" / "year=2024"
    bad = next(p for p in manifest.live_files(home / "parquet", get("daily")) if p.parent == partition)
    bad.write_bytes(b"PAR1" + bytes(range(256)) * 8)
    generation = manifest.read(home / "parquet", get("daily")).state.generation
    dropped = partition / layout.fresh_name(generation, datetime(2024, 1, 1), "dropped")
    dropped.write_bytes(b"PAR1" + bytes(range(256)) * 8)
    before = fingerprint(home)
    # Reads name the file; a download stops before planning (it reads the lake to find gaps).
    for args in (["query", "SELECT count(*) FROM daily"], ["status"], ["download", *DATASETS, "--end", END]):
        out = neo(*args, env=env)
        assert_one_line_error(out, str(bad), "not a readable Parquet file")
        assert str(dropped) not in out.stdout + out.stderr
        assert out.returncode == 1
    verify = neo("verify", "daily", env=env)
    assert verify.returncode == 1 and str(bad) in verify.stdout + verify.stderr
    assert fingerprint(home) == before  # nothing changed, and the bad file is still there
    # Compaction merges partitions with new files: it leaves the damaged compacted one untouched.
    assert bad.name.startswith("c") and neo("compact", "daily", env=env).returncode == 0
    assert bad.exists() and all(k in fingerprint(home)[0] for k in before[0] if "/daily/" in k)

    foreign = partition / "notes.parquet"  # a name neo never writes, outside every view
    foreign.write_bytes(b"not parquet at all")
    vacuum = neo("vacuum", "--older-than", "0s", env=env)
    assert vacuum.returncode == 0 and foreign.exists() and "left" in vacuum.stdout, vacuum.stderr
    foreign.unlink()
    dropped.unlink()

    bad.unlink()  # what a user does with a damaged file: its rows are a gap now
    gone = neo("query", "SELECT count(*) FROM daily", env=env)  # metadata.db still lists it
    assert_one_line_error(gone, str(bad), "`neo sync`")
    assert neo("sync", env=env).returncode == 0
    assert neo("query", "SELECT count(*) FROM daily", env=env).returncode == 0
    assert neo("verify", "daily", env=env).returncode == 1  # the file is missing
    assert neo("download", *DATASETS, "--end", END, env=env).returncode == 0
    assert neo("compact", env=env).returncode == 0
    assert neo("verify", env=env).returncode == 0
    assert lake_problems(home, server, SCALE.end) == {}


def test_a_deleted_or_damaged_metadata_db_is_read_around_and_rebuilt_by_sync(
    server: SimHTTPServer, home: Path, record: Callable
) -> None:
    record(
        "metadata.db deleted, then overwritten with garbage",
        2,
        "`neo query` answers through the same views built in memory and writes nothing (reading never "
        "writes); `neo sync` rebuilds the file; lake files unchanged; lake = reference",
    )
    env = env_for(server, home)
    count = "SELECT count(*) AS n FROM daily"
    expected = neo("query", count, "--format", "csv", env=env).stdout
    before = fingerprint(home)
    db = home / "metadata.db"
    for damage in ("delete", "garbage"):
        if damage == "delete":
            db.unlink()
        else:
            db.write_bytes(b"garbage" * 100)
        out = neo("query", count, "--format", "csv", env=env)
        assert out.returncode == 0 and out.stdout == expected, out.stderr
        assert (not db.exists()) if damage == "delete" else db.read_bytes() == b"garbage" * 100
    assert neo("sync", env=env).returncode == 0 and db.read_bytes() != b"garbage" * 100
    assert neo("query", count, "--format", "csv", env=env).stdout == expected
    assert fingerprint(home) == before
    assert lake_problems(home, server, SCALE.end) == {}
