"""One registry chooses where the queues and the quota windows live, from queue_url's scheme."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from huey.storage import RedisStorage, SqliteStorage
from pyrate_limiter import RedisBucket, SQLiteBucket

from neo.core.backends import BACKENDS, EMBEDDED, backend_for
from neo.core.config import load_settings
from neo.core.errors import ConfigError
from neo.pipeline.container import AppContainer
from neo.pipeline.queues import QueuedPipeline
from tests.support.processes import neo_command


def storages_and_bucket(home: Path, **settings: object) -> tuple[set[type], type]:
    """The storage class of each of the three queues, and the quota bucket's class."""
    s = load_settings(home=home, sync_minutes=0, **settings)
    with AppContainer(s) as c:
        queues = QueuedPipeline(c).queues
        c.quota._limiter("daily")  # builds the bucket without making a call
        return {type(q.storage) for q in (queues.fast, queues.slow, queues.maint)}, type(
            c.quota._buckets["daily"]
        )


def test_no_url_keeps_queues_and_quotas_under_the_data_root(tmp_path: Path) -> None:
    assert storages_and_bucket(tmp_path) == ({SqliteStorage}, SQLiteBucket)
    assert (tmp_path / "state" / "queues.db").exists() and (tmp_path / "state" / "quota.sqlite").exists()
    assert backend_for(load_settings(home=tmp_path)) is EMBEDDED and EMBEDDED.embedded


def test_a_redis_url_moves_queues_and_quotas_together(tmp_path: Path, redis_url: str) -> None:
    assert storages_and_bucket(tmp_path, queue_url=redis_url) == ({RedisStorage}, RedisBucket)
    assert not (tmp_path / "state" / "quota.sqlite").exists()
    settings = load_settings(home=tmp_path, queue_url=redis_url)
    assert backend_for(settings).depths(settings) == {"fast": 0, "slow": 0, "maint": 0}
    assert not (tmp_path / "state" / "queues.db").exists()
    for url in ("redis://h:6379/0", "rediss://h:6380/1", "unix:///run/redis.sock"):
        assert backend_for(load_settings(home=tmp_path, queue_url=url)) is BACKENDS["redis"]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgres://x", "unsupported scheme postgres://"),
        ("sqlite:///tmp/q.db", "unsupported scheme sqlite://"),
        ("localhost:6379", "'localhost:6379' is not a URL"),
    ],
)
def test_an_unsupported_url_is_refused_when_settings_load(tmp_path: Path, url: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says) as err:
        load_settings(home=tmp_path, queue_url=url)
    assert "\n" not in str(err.value) and "redis://" in str(err.value)


def test_neo_dl_with_a_postgres_url_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = {
        "PATH": str(Path(neo_command()[0]).parent) + ":/usr/bin:/bin",
        "NEO_HOME": str(tmp_path / "data"),
        "NEO_CONFIG": str(tmp_path / "absent.toml"),
        "NEO_QUEUE_URL": "postgres://x",
        "TUSHARE_TOKEN": "t",
    }
    for args in (["dl"], ["dp", "fast"], ["download"], ["status"]):
        out = subprocess.run([*neo_command(), *args], env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 2, (args, out.stderr)
        assert out.stderr.strip().count("\n") == 0 and "unsupported scheme postgres://" in out.stderr
        assert not (tmp_path / "data").exists()  # refused before anything was created
