"""metadata.db: one view per dataset over its Parquet files, plus derived views. Views only, no data.

A sync builds a new database file next to metadata.db and renames it over the old one, so it never
opens metadata.db itself: it succeeds while analysts hold connections (read-only or read-write),
their open connections keep the file they opened, and new connections see the new views. Views list
a dataset's live files (see manifest.py): the compacted files by name, fresh files by one glob per
generation, re-listed at every query, so newly written files appear without a sync. A sync is
needed when compaction commits (it syncs itself), datasets or schemas change, or the data root moves.

The file is written with DuckDB's storage version v1.0.0, so any DuckDB client from 1.0 on (CLI,
Python, R, Java, DBeaver...) can open it, whichever newer DuckDB wrote it.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from neo.core.config import Settings
from neo.datasets import DATASETS, DatasetSpec
from neo.lake import engine, layout, manifest, research
from neo.lake.engine import lit, q
from neo.lake.writer import ParquetWriter

STORAGE_VERSION = "v1.0.0"
PRICE_COLUMNS = ("open", "high", "low", "close", "pre_close")


def read_paths(paths: list[str]) -> str:
    """A relation over these Parquet files (absolute paths), read as every view reads them."""
    listed = ", ".join(lit(p) for p in paths)
    return f"read_parquet([{listed}], hive_partitioning = false)"


def sources(lake: Path, spec: DatasetSpec) -> tuple[str | None, str]:
    """The dataset's live compacted files (None before the first compaction) and fresh files, as
    relations. Compacted files hold each key once; fresh ones may repeat keys and overlap them."""
    compacted, fresh = manifest.live_sources(lake, spec, manifest.read(lake, spec).state)
    return (read_paths(compacted) if compacted else None), read_paths(fresh)


def read_files(lake: Path, spec: DatasetSpec) -> str:
    """Every row of the dataset's live files, not deduplicated."""
    compacted, fresh = manifest.live_sources(lake, spec, manifest.read(lake, spec).state)
    return read_paths(compacted + fresh)


def dataset_view(lake: Path, spec: DatasetSpec) -> str:
    """One row per key, the most recently downloaded; a snapshot shows its newest download only.

    Compacted files hold each key once. A fresh row can only share its key with a compacted row of
    the same date, so compacted rows dated before the earliest fresh row are final as they are;
    only the rest go through the latest-wins window with the fresh rows. Fresh rows usually add
    new days, so a scan after compaction costs about a plain scan of the compacted files, with
    their zone maps intact.
    """
    cols = ", ".join(q(f.name) for f in spec.fields)
    fetched = q(layout.FETCHED_AT)
    compacted, fresh = sources(lake, spec)
    if layout.is_snapshot(spec):
        return f"SELECT {cols} FROM {read_files(lake, spec)} QUALIFY {fetched} = max({fetched}) OVER ()"
    key = ", ".join(q(k) for k in spec.key)
    latest = f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {fetched} DESC) = 1"
    if compacted is None:
        return f"SELECT {cols} FROM {fresh} {latest}"
    # The fresh files are listed once per query (MATERIALIZED): each mention of a glob lists the
    # directory again, and a file renamed in between would be seen by one branch and not the
    # other, showing a key twice. Fresh files are few: compaction runs when they pile up.
    assert spec.date_column in spec.key, spec.name  # a key's date decides which branch it is in
    date = q(spec.date_column)
    return (
        f"WITH fresh AS MATERIALIZED (SELECT * FROM {fresh}), "
        f"edge AS (SELECT coalesce(min({date}), DATE '9999-12-31') AS first_fresh FROM fresh) "
        f"SELECT {cols} FROM {compacted} WHERE {date} < (SELECT first_fresh FROM edge) UNION ALL "
        f"SELECT {cols} FROM (SELECT * FROM {compacted} WHERE {date} >= (SELECT first_fresh FROM edge) "
        f"UNION ALL SELECT * FROM fresh) {latest}"
    )


def latest_view(spec: DatasetSpec) -> str:
    """The latest version per latest_key: highest update_flag, then latest announcement dates."""
    assert spec.latest_key is not None
    part = ", ".join(q(k) for k in spec.latest_key)
    order = ", ".join(f"{q(c)} DESC NULLS LAST" for c in spec.version_order)
    return (
        f"SELECT * FROM {q(spec.name)} QUALIFY row_number() OVER (PARTITION BY {part} ORDER BY {order}) = 1"
    )


def adjusted_view(kind: str) -> str:
    """daily prices times adj_factor (hfq), divided by the stock's latest factor in the lake for qfq.

    qfq is anchored at the latest adj_factor the lake holds for each stock, so the series changes
    (as a whole) when a new ex-dividend factor arrives; hfq never changes for past days.
    """
    scale = "a.adj_factor" if kind == "hfq" else "a.adj_factor / l.latest_factor"
    prices = ", ".join(f"d.{c} * {scale} AS {c}" for c in PRICE_COLUMNS)
    anchor = ""
    if kind == "qfq":
        anchor = (
            "LEFT JOIN (SELECT ts_code, arg_max(adj_factor, trade_date) AS latest_factor "
            "FROM adj_factor GROUP BY ts_code) l ON l.ts_code = d.ts_code "
        )
    return (
        f"SELECT d.ts_code, d.trade_date, {prices}, "
        f"d.close * {scale} - d.pre_close * {scale} AS change, d.pct_chg, d.vol, d.amount, "
        f"a.adj_factor FROM daily d LEFT JOIN adj_factor a "
        f"ON a.ts_code = d.ts_code AND a.trade_date = d.trade_date {anchor}"
    )


def views(lake: Path) -> dict[str, str]:
    """Every view of metadata.db by name, in creation order."""
    out = {spec.name: dataset_view(lake, spec) for spec in DATASETS.values()}
    for spec in DATASETS.values():
        if spec.latest_key is not None:
            out[f"{spec.name}_latest"] = latest_view(spec)
    out["daily_hfq"] = adjusted_view("hfq")
    out["daily_qfq"] = adjusted_view("qfq")
    out |= research.views()  # point-in-time statements, tradability (research.py)
    return out


@dataclass
class SyncResult:
    path: Path
    views: list[str]
    macros: list[str]  # the table macros, as called: income_asof(d)


def ensure_placeholders(settings: Settings) -> None:
    """Every generation a view lists needs a file to match (see manifest.py)."""
    writer = ParquetWriter(settings.lake_dir, settings.home / "rejected", fsync=settings.fsync)
    for spec in DATASETS.values():
        for generation in manifest.read(settings.lake_dir, spec).state.view_generations():
            writer.ensure_placeholder(spec, generation)


def open_lake(settings: Settings) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with metadata.db's views: for neo's own reads of the lake,
    which must not depend on metadata.db being present or current."""
    ensure_placeholders(settings)
    con = engine.connect(settings)
    for name, sql in views(settings.lake_dir).items():
        con.execute(f"CREATE VIEW {q(name)} AS {sql}")
    for statement in research.macro_statements():
        con.execute(statement)
    return con


def sync(settings: Settings) -> SyncResult:
    """Rebuild metadata.db atomically (write a new file, rename it over the old one)."""
    lake = settings.lake_dir
    ensure_placeholders(settings)
    target = settings.metadata_db
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    all_views = views(lake)
    try:
        con = engine.connect(settings)
        try:
            con.execute(f"ATTACH {lit(str(tmp))} AS neo_meta (STORAGE_VERSION {lit(STORAGE_VERSION)})")
            con.execute("USE neo_meta")
            for name, sql in all_views.items():
                con.execute(f"CREATE VIEW {q(name)} AS {sql}")  # binds: a broken view fails here
            for statement in research.macro_statements():  # the *_asof table macros
                con.execute(statement)
            _describe(con)
            con.execute("USE memory")
            con.execute("DETACH neo_meta")
        finally:
            con.close()
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
        Path(f"{tmp}.wal").unlink(missing_ok=True)
    called = [f"{name}({', '.join(params)})" for name, (params, _) in research.macros().items()]
    return SyncResult(target, list(all_views), called)


def _describe(con: duckdb.DuckDBPyConnection) -> None:
    """A small table telling analysts what each dataset view is."""
    con.execute(
        "CREATE TABLE neo_datasets (name VARCHAR, api VARCHAR, key VARCHAR, date_column VARCHAR, "
        "strategy VARCHAR, description VARCHAR, synced_at TIMESTAMP)"
    )
    now = datetime.now(UTC).replace(tzinfo=None)  # naive UTC: TIMESTAMPTZ needs pytz in Python clients
    con.executemany(
        "INSERT INTO neo_datasets VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (s.name, s.api, ",".join(s.key), s.date_column, str(s.strategy), s.description, now)
            for s in DATASETS.values()
        ],
    )
