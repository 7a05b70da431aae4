"""A full disk and a read-only data root: a clear error, nothing half-written, a re-run completes.

The data root is a small tmpfs mounted for the test (needs root, as in CI; skipped with the reason
elsewhere). The writer-level test below injects the same error into any machine's run.
"""

from __future__ import annotations

import errno
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from neo.core.errors import StorageError
from neo.lake import writer as writer_module
from neo.lake.catalog import open_lake
from neo.pipeline import runner
from neo.pipeline.container import AppContainer
from neo.sim.server import SimHTTPServer
from tests.conftest import client_settings
from tests.reliability.common import (
    MINUTE_SETTINGS,
    assert_one_line_error,
    env_for,
    lake_problems,
    market,
    neo,
    settings_of,
)
from tests.reliability.conftest import DATASETS, START, Scale
from tests.reliability.reference import compare

Sim = Callable[..., SimHTTPServer]


def _mount(path: Path, options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True
    )


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[[str], None]]:
    """A tmpfs at tmp_path/disk; the fixture's value re-mounts it with other options (size=, ro, rw)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    out = _mount(disk, "size=512m")  # room for every dataset of the full scale, minute bars included
    if out.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({out.stderr.strip()}); the injected-fault test covers this")

    def remount(options: str) -> None:
        done = subprocess.run(
            ["mount", "-o", f"remount,{options}", str(disk)], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr

    yield remount
    subprocess.run(["umount", "-l", str(disk)], check=False)


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def assert_nothing_half_written(home: Path) -> None:
    lake = home / "parquet"
    leftovers = [p for p in lake.rglob(".*") if p.is_file()]
    assert leftovers == [], leftovers  # no temporary file left in the lake
    for f in lake.rglob("*.parquet"):
        pq.read_metadata(f)  # every file is whole


def assert_subset_of_reference(home: Path, server: SimHTTPServer, scale: Scale) -> int:
    """Every row the lake holds is right; returns how many reference rows it does not hold yet."""
    con = open_lake(settings_of({"NEO_HOME": str(home)}))
    try:
        problems = compare(con, server.sim, START, scale.end, list(DATASETS))
        assert all(diff.extra == [] for diff in problems.values()), problems
        return sum(len(diff.missing) for diff in problems.values())
    finally:
        con.close()


def test_a_full_disk_stops_with_one_clear_line_and_a_rerun_completes(
    sim: Sim, tmp_path: Path, scale: Scale, small_disk: Callable[[str], None], record: Callable
) -> None:
    record(
        "disk full: the data root on a tmpfs too small for the download",
        1,
        "exit 1 with one `error:` line and no traceback; no temporary or partial file; every row "
        "written is right; after making room the same command completes and lake = reference",
    )
    server = sim(**vars(market(scale)))
    end = scale.end.strftime("%Y%m%d")
    probe_home = tmp_path / "probe"  # how much room the whole download needs
    assert neo("download", *DATASETS, "--end", end, env=env_for(server, probe_home)).returncode == 0
    needed = _du(probe_home)
    home = tmp_path / "disk" / "data"
    small_disk(f"size={needed // 2}")
    env = env_for(server, home)
    out = neo("download", *DATASETS, "--end", end, env=env)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("error: cannot write to the data root: no space left on the device"), out.stderr
    assert_nothing_half_written(home)
    assert assert_subset_of_reference(home, server, scale) > 0  # the disk really filled up mid-way
    # Room for the rest, the compaction that ends the run (old and new files side by side until
    # vacuum's grace) and the queues: the bounded scale's few MB need the old fixed 64 MB.
    small_disk(f"size={max(needed * 4, 64 << 20)}")
    again = neo("download", *DATASETS, "--end", end, env=env)
    assert again.returncode == 0 and " 0 failed" in again.stdout, again.stderr
    assert lake_problems(home, server, scale.end) == {}


def test_a_read_only_data_root_is_refused_and_nothing_changes(
    sim: Sim, tmp_path: Path, scale: Scale, small_disk: Callable[[str], None], record: Callable
) -> None:
    commands = [["download", "--refetch", "daily"], ["sync"], ["compact"], ["vacuum"]]
    record(
        "read-only data root (tmpfs remounted ro after a download)",
        len(commands),
        "`neo download --refetch`, `sync`, `compact`, `vacuum`: each a one-line error, non-zero "
        "exit; `neo query` still answers; after remounting rw the lake is unchanged = reference",
    )
    server = sim(**vars(market(scale)))
    home = tmp_path / "disk" / "data"
    env = env_for(server, home)
    assert neo("download", *DATASETS, "--end", scale.end.strftime("%Y%m%d"), env=env).returncode == 0
    files = sorted(p.relative_to(home) for p in home.rglob("*.parquet"))
    small_disk("ro")
    for args in commands:
        out = neo(*args, env=env)
        assert_one_line_error(out, "read-only")
    rows = neo("query", "SELECT count(*) AS n FROM daily", "--format", "csv", env=env)
    assert rows.returncode == 0 and int(rows.stdout.split()[1]) > 0, rows.stderr
    small_disk("rw")
    assert sorted(p.relative_to(home) for p in home.rglob("*.parquet")) == files
    assert lake_problems(home, server, scale.end) == {}


def test_an_injected_write_error_stops_the_run_and_leaves_the_request_pending(
    sim: Sim, tmp_path: Path, scale: Scale, monkeypatch: pytest.MonkeyPatch, record: Callable
) -> None:
    """The same failure on any machine: the writer's Parquet write raises ENOSPC after a few files."""
    record(
        "disk full, injected at the writer (ENOSPC from the Parquet write after 20 files)",
        1,
        "the run stops with StorageError; no temporary file; failed requests stay pending, "
        "not failed; a re-run completes and lake = reference",
    )
    server = sim(**vars(market(scale)))
    settings = client_settings(
        server,
        tmp_path / "data",
        fsync=False,
        history_start="20240101",
        sync_minutes=0,
        compact_cron="",
        **MINUTE_SETTINGS,
    )
    real_write = writer_module.pq.write_table
    written = []

    def failing_write(table, where, **kwargs):  # type: ignore[no-untyped-def]
        if len(written) >= 20 and "placeholder" not in str(where):  # a batch, in a slow worker
            raise OSError(errno.ENOSPC, "No space left on device", str(where))
        written.append(where)
        real_write(table, where, **kwargs)

    monkeypatch.setattr(writer_module.pq, "write_table", failing_write)
    with AppContainer(settings) as c, pytest.raises(StorageError, match="no space left"):
        runner.download(c, list(DATASETS), end=scale.end)
    with AppContainer(settings) as c:
        assert c.ledger.entries(status="failed") == []
        assert c.ledger.entries(status="pending") != []
    assert_nothing_half_written(settings.home)
    monkeypatch.setattr(writer_module.pq, "write_table", real_write)
    with AppContainer(settings) as c:
        assert runner.download(c, list(DATASETS), end=scale.end).failed == 0
    assert lake_problems(settings.home, server, scale.end) == {}
