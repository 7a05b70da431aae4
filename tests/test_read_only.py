"""Reading never writes: `neo query` runs queries only, and query, serve, status, verify, report,
`neo.connect()` and `neo.pro_api()` create, change or delete no file, whatever the data root holds
(a downloaded lake, nothing, or no data root at all). Each check compares the whole directory tree
(names, sizes, modification times) before and after."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import httpx
import orjson
import pytest

import neo
from neo.cli import main
from neo.core.config import Settings, load_settings
from neo.core.errors import UsageError
from neo.lake.ledger import Ledger
from neo.lake.query import QueryError, run
from neo.pipeline.container import AppContainer
from neo.sim.server import SimConfig, running
from tests.conftest import TOKEN, read_line
from tests.support.processes import neo_command

END = date(2024, 3, 29)
DATASETS = ["stock_basic", "trade_cal", "daily", "income"]

Tree = dict[str, tuple[int, int] | None]


def tree(*roots: Path) -> Tree:
    """Every directory and file under `roots`: a file by its size and modification time."""
    out: Tree = {}
    for root in roots:
        for path in [root, *root.rglob("*")] if root.exists() else []:
            st = path.stat()
            out[str(path)] = None if path.is_dir() else (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A data root that `neo download` filled from the simulator: daily bars, statements, calendar
    and stocks (a process of its own, which closes the ledger as a user's download does)."""
    home = tmp_path_factory.mktemp("read-only") / "data"
    market = SimConfig(stocks=8, start=date(2023, 1, 1), end=END, seed=5)
    with running(market) as server:
        env = {
            **env_for(home),
            "NEO_TUSHARE_URL": server.url,
            "TUSHARE_TOKEN": TOKEN,
            "NEO_DEFAULT_QUOTA": "0",
            "NEO_QUOTAS__STOCK_BASIC": "0",
            "NEO_SYNC_MINUTES": "0",
        }
        args = [*DATASETS, "--start", "20230901", "--end", f"{END:%Y%m%d}"]
        done = subprocess.run(
            [*neo_command(), "download", *args], env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0 and " 0 failed" in done.stdout, done.stderr
    yield load_settings(home=home)


def env_for(home: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith("NEO_") and k != "TUSHARE_TOKEN"}
    return {**keep, "NEO_HOME": str(home), "NEO_CONFIG": str(home.parent / "absent.toml")}


Cli = Callable[[list[str], Path], tuple[int, str, str]]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    """Run a command through neo's entry point, as the console script does: (exit code, out, err)."""

    def run(args: list[str], home: Path) -> tuple[int, str, str]:
        monkeypatch.setenv("NEO_HOME", str(home))
        monkeypatch.setenv("COLUMNS", "200")
        monkeypatch.setattr(sys, "argv", ["neo", *args])
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


# -- neo query runs queries only -------------------------------------------------------------------

REFUSED = [
    "COPY (SELECT 1) TO '{out}/x.csv'",
    "COPY (SELECT * FROM daily LIMIT 5) TO "
    "'{lake}/daily/year=2024/g00000002-20231202T000000000000-abab.parquet' (FORMAT parquet)",
    "EXPORT DATABASE '{out}/export'",
    "ATTACH '{out}/other.db' AS other",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET profiling_output = '{out}/profile.json'",
    "SET temp_directory = '{out}/spill'",
    "RESET temp_directory",
    "PRAGMA enable_profiling = 'json'",
    "CALL checkpoint()",
    "CHECKPOINT",
    "IMPORT DATABASE '{out}'",
    "CREATE TABLE t AS SELECT 1",
    "DROP VIEW daily",
    "SELECT 1; COPY (SELECT 1) TO '{out}/y.csv'",
    "EXPLAIN ANALYZE COPY (SELECT 1) TO '{out}/z.csv'",
    "/* a */ EXPLAIN /* b */ ANALYZE /* c */ COPY (SELECT 1) TO '{out}/z.csv'",
    "EXPLAIN (ANALYZE, FORMAT JSON) COPY (SELECT 1) TO '{out}/z.csv'",
    "UPDATE EXTENSIONS",
    "USE memory",
    "",
]


@pytest.mark.parametrize("template", REFUSED)
def test_query_refuses_every_statement_that_is_not_a_query(
    lake: Settings, tmp_path: Path, template: str
) -> None:
    out = tmp_path / "outside"
    out.mkdir()
    (out / "schema.sql").write_text(f"COPY (SELECT 1) TO '{out}/imported.csv';")  # for IMPORT DATABASE
    sql = template.format(out=out, lake=lake.lake_dir)
    before = tree(lake.home, out)
    with pytest.raises(QueryError) as refused:
        run(sql, lake)
    message = str(refused.value)
    assert "\n" not in message and ("read-only" in message or "one query" in message), message
    assert tree(lake.home, out) == before


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT count(*) FROM daily",
        "WITH d AS (SELECT * FROM daily) SELECT max(close) FROM d",
        "FROM income_asof(DATE '2024-01-31') SELECT count(*)",
        "DESCRIBE daily",
        "SHOW TABLES",
        "SUMMARIZE daily",
        "VALUES (1, 2)",
        "EXPLAIN SELECT count(*) FROM daily",
        "EXPLAIN ANALYZE SELECT count(*) FROM daily",
        "EXPLAIN (ANALYZE, FORMAT JSON) SELECT count(*) FROM daily",
        "EXPLAIN ANALYZE ((SELECT 1) UNION (SELECT 2))",
        "EXPLAIN /* why */ ANALYZE /* so slow */ SELECT count(*) FROM daily",
        "SELECT 1; -- a trailing comment",
    ],
)
def test_queries_still_run(lake: Settings, sql: str) -> None:
    before = tree(lake.home)
    assert run(sql, lake).num_rows > 0
    assert tree(lake.home) == before


def test_a_copy_into_the_lake_is_refused_and_the_lake_keeps_working(lake: Settings) -> None:
    """The issue's case, as a user types it: before, it exited 0 and added a file of another schema
    where the view's glob finds it, and every later query of daily failed."""
    target = lake.lake_dir / "daily" / "year=2024" / "g00000002-20231202T000000000000-abab.parquet"
    copy = f"COPY (SELECT * FROM daily LIMIT 5) TO '{target}' (FORMAT parquet)"
    env = env_for(lake.home)
    refused = subprocess.run(
        [*neo_command(), "query", copy], env=env, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 2 and not refused.stdout
    assert refused.stderr.startswith("error: neo query is read-only: COPY writes files")
    assert refused.stderr.count("\n") == 1 and not target.exists()
    count = subprocess.run(
        [*neo_command(), "query", "SELECT count(*) AS n FROM daily", "--format", "csv"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert count.returncode == 0 and int(count.stdout.splitlines()[1]) > 100, count.stderr


# -- reading commands create, change or delete nothing ----------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["status"],
        ["verify"],
        ["verify", "daily", "income"],
        ["query", "SELECT count(*) FROM income_asof('2024-02-01')"],
    ],
)
def test_reading_commands_leave_the_data_root_as_it_was(lake: Settings, args: list[str], cli: Cli) -> None:
    before = tree(lake.home)
    code, _, err = cli(args, lake.home)
    assert code == 0, err
    assert tree(lake.home) == before


def test_report_writes_its_page_and_nothing_else(lake: Settings, tmp_path: Path, cli: Cli) -> None:
    before = tree(lake.home)
    page = tmp_path / "lake.html"
    code, _, err = cli(["report", "--output", str(page)], lake.home)
    assert code == 0 and page.exists(), err
    assert tree(lake.home) == before


def test_serve_connect_and_pro_api_leave_the_data_root_as_it_was(lake: Settings) -> None:
    pytest.importorskip("pandas")  # neo.pro_api()'s DataFrames
    before = tree(lake.home)
    proc = subprocess.Popen(
        [*neo_command(), "serve", "--port", "0"], env=env_for(lake.home), stderr=subprocess.PIPE, text=True
    )
    try:
        line = read_line(proc.stderr, 60, "neo serve's address")  # type: ignore[arg-type]
        url = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
        assert url, line
        body = {"api_name": "income_vip", "token": TOKEN, "params": {"period": "20231231"}, "fields": ""}
        reply = httpx.post(f"{url.group(1)}/dataapi", content=orjson.dumps(body), timeout=30).json()
        assert reply["code"] == 0 and reply["data"]["items"], reply["msg"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    script = (
        "import neo; con = neo.connect(); print(con.sql('SELECT count(*) FROM daily_qfq').fetchall()[0][0]); "
        "print(len(neo.pro_api().daily(trade_date='20240131')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env_for(lake.home), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and all(int(n) > 0 for n in done.stdout.split()), done.stderr
    assert tree(lake.home) == before


# -- a data root that does not exist, or holds nothing ----------------------------------------------


@pytest.mark.parametrize(
    "args", [["status"], ["verify"], ["report"], ["query", "SELECT 1"], ["serve", "--port", "0"]]
)
def test_reading_a_data_root_that_does_not_exist_is_one_line_and_creates_nothing(
    tmp_path: Path, args: list[str], cli: Cli
) -> None:
    home = tmp_path / "typo" / "data"
    code, out, err = cli(args, home)
    assert code == 2 and err.startswith(f"error: the data root {home} does not exist: set NEO_HOME")
    assert err.count("\n") == 1 and not out
    assert list(tmp_path.iterdir()) == []


def test_python_readers_of_a_data_root_that_does_not_exist_say_so(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path / "data")
    for reader in (neo.connect, neo.pro_api):
        with pytest.raises(UsageError, match=r"the data root .* does not exist"):
            reader(settings)
    assert list(tmp_path.iterdir()) == []


def test_an_empty_data_root_says_nothing_is_downloaded(tmp_path: Path, cli: Cli) -> None:
    home = tmp_path / "data"
    home.mkdir()
    before = tree(home)
    code, out, _ = cli(["status"], home)
    assert code == 0 and f"nothing is downloaded in {home} yet" in out
    code, out, _ = cli(["verify"], home)
    assert code == 1 and "nothing to verify" in out and "lake OK" not in out
    code, out, _ = cli(["report", "--output", str(tmp_path / "page.html")], home)
    assert code == 0 and "nothing downloaded yet" in out
    code, out, _ = cli(["query", "SELECT count(*) AS n FROM daily", "--format", "csv"], home)
    assert code == 0 and out.split() == ['"n"', "0"]
    assert tree(home) == before


def test_the_ledger_is_read_without_creating_files_beside_it(lake: Settings, tmp_path: Path) -> None:
    """SQLite creates `-wal` and `-shm` files for a read-only connection to a WAL database and
    leaves them behind; neo's read-only ledger does not, and still sees what a writer committed."""
    home = tmp_path / "data"
    shutil.copytree(lake.home, home)
    settings = load_settings(home=home)
    state = home / "state"
    names = sorted(p.name for p in state.iterdir())
    reader = Ledger(settings.ledger_path, read_only=True)
    done = len(reader.entries(status="done"))
    assert done > 0 and sorted(p.name for p in state.iterdir()) == names
    with AppContainer(settings) as writer:  # a download running meanwhile
        writer.ledger.done("daily", {"trade_date": "20990101"}, 1)
        assert len(reader.entries(status="done")) == done + 1
        writer.ledger.close()
    assert sorted(p.name for p in state.iterdir()) == names
