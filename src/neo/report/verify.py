"""`neo verify`: checks of the lake on its own.

Without --legacy, checks of the lake itself: every live file is on disk, readable to the last value
and has exactly the declared schema; the view shows each key once; no key has two different rows with the
same download time (the view would pick one at random); no dates are missing against the trade
calendar (the gap rule of `neo status`); no day holds only the rows of the stocks a `neo download
--codes` asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from neo.core.config import Settings
from neo.core.dates import fmt_day
from neo.core.errors import first_line
from neo.datasets import DatasetSpec, get
from neo.lake import engine, layout
from neo.lake.engine import q
from neo.lake.minutes import daily_mismatches
from neo.lake.model import LakeModel
from neo.strategies import Context, for_spec, uncovered

READ_ROWS = 65_536  # rows decoded at a time when reading a file through


@dataclass
class DatasetHealth:
    dataset: str
    files: int = 0
    rows: int = 0  # rows the view shows
    bad_files: list[tuple[Path, str]] = field(default_factory=list)  # unreadable or of another schema
    duplicate_keys: int = 0  # keys the view shows more than once
    conflicting_keys: int = 0  # keys with different rows at the same download time
    examples: list[str] = field(default_factory=list)  # a few of those keys
    missing: list[str] = field(default_factory=list)  # gaps by the dataset's strategy
    per_stock_only: list[str] = field(default_factory=list)  # days with only some stocks' rows
    not_checked: list[str] = field(default_factory=list)  # checks that could not run, and why
    unlike_daily: list[str] = field(default_factory=list)  # minute bars: days not adding up to daily

    @property
    def ok(self) -> bool:
        return not (
            self.bad_files
            or self.duplicate_keys
            or self.conflicting_keys
            or self.missing
            or self.per_stock_only
            or self.not_checked
            or self.unlike_daily
        )


def check_lake(
    settings: Settings,
    datasets: list[str] | None = None,
    *,
    examples: int = 5,
    on_file: Callable[[Path], None] | None = None,
) -> list[DatasetHealth]:
    """Check every dataset (or `datasets`) of the lake; `on_file` is told of each file read."""
    with LakeModel(settings) as lake:
        specs = [get(d) for d in dict.fromkeys(datasets)] if datasets else lake.listed()
        ctx = Context(lake)
        calendar: list[date] | None
        try:
            calendar = ctx.calendar()
            calendar_problem = "" if calendar else "no trade calendar in the lake (neo download trade_cal)"
        except duckdb.Error as exc:
            calendar, calendar_problem = None, f"cannot read the trade calendar: {first_line(exc)}"
        out = []
        for spec in specs:
            health = DatasetHealth(spec.name)
            _check_files(lake, spec, health, on_file)
            present = _check_view(lake, spec, health, examples)
            if present and for_spec(spec).needs_calendar and calendar_problem:
                health.not_checked.append(f"gaps: {calendar_problem}")
            elif present:
                units = for_spec(spec).coverage(ctx, spec, calendar or [])
                health.missing = uncovered(units)
                days = [u.day for u in units if u.covered and u.day is not None]
                health.per_stock_only = [fmt_day(d) for d in for_spec(spec).per_stock_only(ctx, spec, days)]
            if present and spec.freq is not None:
                health.unlike_daily = [
                    f"{m.code} {fmt_day(m.day)}: {m.what}" for m in daily_mismatches(lake, spec)
                ]
            out.append(health)
    return out


def _check_files(
    lake: LakeModel, spec: DatasetSpec, health: DatasetHealth, on_file: Callable[[Path], None] | None
) -> None:
    expected = layout.file_schema(spec)
    live = lake.live(spec)
    base = layout.dataset_dir(lake.lake, spec)
    files = [base / f.rel for f in live.files]
    health.files = len(files) + len(live.lost)
    gone = (
        "listed as live but gone from disk: its rows read as missing "
        "(`neo download` fills the gap, `neo compact` forgets the file)"
    )
    health.bad_files += [(base / f.rel, gone) for f in live.lost]
    for path in files:
        problem = _check_file(path, expected)
        if problem:
            health.bad_files.append((path, problem))
        if on_file:
            on_file(path)


def _check_file(path: Path, expected: pa.Schema) -> str | None:
    """Why a file is not a whole file of the declared schema, or None. Decodes every value, a row
    group at a time: a footer that reads fine says nothing of the pages behind it. Pages written with
    a CRC are checked against it, which also catches bit flips that still decode."""
    try:
        with pq.ParquetFile(path, page_checksum_verification=True) as f:
            if not f.schema_arrow.equals(expected, check_metadata=False):
                return f"schema differs from the declared one: {_schema_diff(f.schema_arrow, expected)}"
            rows = sum(b.num_rows for b in f.iter_batches(batch_size=READ_ROWS))
            if rows != f.metadata.num_rows:
                return f"{rows} rows decoded, {f.metadata.num_rows} declared"
    except (OSError, pa.ArrowException) as exc:
        return f"unreadable: {first_line(exc)}"
    return None


def _schema_diff(got: pa.Schema, expected: pa.Schema) -> str:
    want = {f.name: f.type for f in expected}
    have = {f.name: f.type for f in got}
    parts = [f"{n} is {have[n]}, declared {t}" for n, t in want.items() if n in have and have[n] != t]
    if missing := [n for n in want if n not in have]:
        parts.append(f"missing {', '.join(missing)}")
    if extra := [n for n in have if n not in want]:
        parts.append(f"extra {', '.join(extra)}")
    return "; ".join(parts) or "column order differs"


def _check_view(lake: LakeModel, spec: DatasetSpec, health: DatasetHealth, examples: int) -> set[date]:
    """Duplicate and conflicting keys, through the dataset's own view on a connection of its own (a
    bad file elsewhere in the lake must not stop this dataset's checks). Returns the dates present."""
    key = ", ".join(q(k) for k in spec.key)
    con = engine.connect(lake.settings)
    try:
        con.execute(f"CREATE VIEW {q(spec.name)} AS {lake.view(spec)}")
        row = engine.first_row(con, f"SELECT count(*) FROM {q(spec.name)}")
        health.rows = int(row[0]) if row else 0
        dup = f"SELECT {key}, count(*) AS n FROM {q(spec.name)} GROUP BY ALL HAVING count(*) > 1"
        health.duplicate_keys, shown = _count_and_first(con, dup, spec, examples, "shown {n} times")
        # Two rows of one key at the same download time: the view keeps either, so it is not
        # deterministic. (Identical copies, e.g. a retried batch in a newer generation, are harmless.)
        fetched = q(layout.FETCHED_AT)
        raw = lake.files(spec)
        conflict = (
            f"SELECT {key}, count(DISTINCT hash({_columns(spec)})) AS n FROM {raw} "
            f"GROUP BY {key}, {fetched} HAVING count(DISTINCT hash({_columns(spec)})) > 1"
        )
        health.conflicting_keys, shown2 = _count_and_first(
            con, conflict, spec, examples, "{n} different rows at one download time"
        )
        health.examples = shown + shown2
        return lake.present(spec)
    except duckdb.Error as exc:
        health.not_checked.append(f"keys and gaps: {first_line(exc)}")
        return set()
    finally:
        con.close()


def _count_and_first(
    con: duckdb.DuckDBPyConnection, sql: str, spec: DatasetSpec, limit: int, what: str
) -> tuple[int, list[str]]:
    keys = list(spec.key)
    rows = con.execute(
        f"SELECT *, count(*) OVER () FROM ({sql}) ORDER BY {', '.join(map(q, keys))} LIMIT {int(limit)}"
    ).fetchall()
    shown = [
        ", ".join(f"{k}={v}" for k, v in zip(keys, r, strict=False)) + ": " + what.format(n=r[len(keys)])
        for r in rows
    ]
    return (int(rows[0][-1]) if rows else 0), shown


def passed(health: list[DatasetHealth]) -> bool:
    """Every check passed, and there was something to check: a lake with nothing downloaded (a
    wrong NEO_HOME, say) does not pass."""
    return all(h.ok for h in health) and any(h.files for h in health)


def _columns(spec: DatasetSpec) -> str:
    return ", ".join(q(f.name) for f in spec.fields)
