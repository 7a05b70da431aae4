"""Revisions: the source revises rows between runs; the lake ends with the latest values only."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from neo.datasets import DATASETS
from neo.lake.catalog import open_lake, read_files
from neo.sim.server import SimHTTPServer, Simulator
from tests.reliability.common import env_for, lake_problems, market, neo, settings_of
from tests.reliability.conftest import DATASETS as UNDER_TEST
from tests.reliability.conftest import START, Scale
from tests.reliability.reference import compare


def test_revised_rows_end_with_their_latest_values_only(
    sim: Callable[..., SimHTTPServer], tmp_path: Path, scale: Scale, record: Callable
) -> None:
    row = record(
        "revisions: 20% of rows revised each time the source serves a request again; "
        "`neo download --refetch` each round, `neo compact` every other round",
        scale.rounds,
        "after every round lake = reference in the latest revision served (one row per key); the "
        "lake differs from the unrevised data; after compact + vacuum the files hold each key once",
    )
    config = market(scale, revise_rate=0.2)
    server = sim(**vars(config))
    home = tmp_path / "data"
    env = env_for(server, home)
    end = scale.end.strftime("%Y%m%d")
    assert neo("download", *UNDER_TEST, "--end", end, env=env).returncode == 0
    for round_ in range(1, scale.rounds + 1):
        out = neo("download", "--refetch", *UNDER_TEST, "--end", end, env=env)
        assert out.returncode == 0 and " 0 failed" in out.stdout, out.stderr
        if round_ % 2:
            assert neo("compact", env=env).returncode == 0
        assert lake_problems(home, server, scale.end) == {}, f"round {round_}"
    revised = server.sim.snapshot().get("revised_rows", 0)
    assert revised > 0
    row.notes.append(f"{revised} rows revised at the source")

    settings = settings_of(env)
    con = open_lake(settings)
    try:
        unrevised = compare(con, Simulator(config), START, scale.end)  # generation 0: never served
        assert {"daily", "adj_factor", "income"} <= set(unrevised)  # the revisions reached the lake
    finally:
        con.close()
    assert neo("compact", env=env).returncode == 0
    assert neo("vacuum", "--older-than", "0s", env=env).returncode == 0
    con = open_lake(settings)
    try:
        for name in ("daily", "daily_basic", "adj_factor"):
            on_disk = con.sql(
                f"SELECT count(*) FROM {read_files(settings.lake_dir, DATASETS[name])}"
            ).fetchall()[0]
            assert on_disk == con.sql(f"SELECT count(*) FROM {name}").fetchall()[0], name
    finally:
        con.close()
    assert lake_problems(home, server, scale.end) == {}
