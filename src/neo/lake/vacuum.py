"""Vacuum: delete the files compaction superseded, once nothing can still be reading them.

A file is kept while any manifest state that was current within the grace period refers to it:
queries running that long ago, and connections opened then (their views list that state's
files), keep working. Everything else neo wrote in a dataset directory is deleted: superseded
fresh and compacted files, the output of a compaction that crashed before its commit, the records
of generations no such state lists, and the zero-row placeholder files older versions kept. Vacuum holds the
dataset's maintenance lock, so no compaction is writing meanwhile, and syncs metadata.db first, so
new connections never list a deleted file.

Also cleared: temporary files of writers, syncs and compactions that crashed (their process is
gone, or they are older than an hour).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from neo.core.config import Settings
from neo.datasets import DATASETS, DatasetSpec
from neo.lake import catalog, layout, manifest
from neo.lake.compact import TEMP_PREFIX

STALE_TEMP = timedelta(hours=1)
_TEMP_PID = re.compile(r"\.(\d+)\.(?:[0-9a-f]{8}\.)?tmp")


@dataclass
class VacuumResult:
    dataset: str
    files: int = 0
    bytes: int = 0
    temps: int = 0
    skipped: str | None = None
    foreign: list[Path] = field(default_factory=list)  # files neo did not write: left alone


def vacuum(
    settings: Settings, older_than: timedelta, specs: Iterable[DatasetSpec] | None = None
) -> list[VacuumResult]:
    catalog.sync(settings)
    cutoff = datetime.now(UTC) - older_than
    results = [vacuum_dataset(settings, spec, cutoff) for spec in (specs or DATASETS.values())]
    results.append(_clear_home(settings))
    return results


def vacuum_dataset(settings: Settings, spec: DatasetSpec, cutoff: datetime) -> VacuumResult:
    lake = settings.lake_dir
    base = layout.dataset_dir(lake, spec)
    result = VacuumResult(spec.name)
    if not base.exists():
        return result
    try:
        with manifest.maintenance(lake, spec) as m:
            in_use = m.in_use_since(cutoff)
            for path in sorted(base.rglob("*.parquet")):
                rel = path.relative_to(base).as_posix()
                if any(part.startswith(".") for part in rel.split("/")):
                    continue  # temporary: see below
                if not layout.is_neo_file(path):
                    result.foreign.append(path)
                    continue
                if layout.is_placeholder(path) or not any(state.refers_to(rel) for state in in_use):
                    result.bytes += path.stat().st_size
                    path.unlink()
                    result.files += 1
            oldest = min(state.fresh_from for state in in_use)
            records = manifest.fresh_dir(lake, spec)
            for record in sorted(records.glob("g*.jsonl")) if records.exists() else []:
                gen = record.stem[1:]
                if gen.isdigit() and int(gen) < oldest:
                    record.unlink()
            for path in list(base.rglob(".*")):
                if path.name.startswith(TEMP_PREFIX):  # a crashed compaction's staging directory
                    shutil.rmtree(path, ignore_errors=True)
                    result.temps += 1
                elif path.name.endswith(".tmp") and _stale(path):
                    if path.is_dir():  # a record directory a crashed process was building
                        shutil.rmtree(path, ignore_errors=True)
                    else:
                        path.unlink(missing_ok=True)
                    result.temps += 1
            retired = [r for r in m.retired if r.until > cutoff]
            if retired != m.retired:
                manifest.write(lake, spec, manifest.Manifest(m.state, retired))
    except manifest.Busy:
        result.skipped = manifest.BUSY
    return result


def _clear_home(settings: Settings) -> VacuumResult:
    """Crashed syncs leave `.metadata.db.*.tmp`, crashed compactions their spill directories."""
    result = VacuumResult("(temporary files)")
    home = settings.home
    for path in home.glob(f".{settings.metadata_db.name}.*.tmp*"):
        if _stale(path):
            path.unlink(missing_ok=True)
            result.temps += 1
    spill = settings.tmp_dir
    for path in spill.glob("compact-*") if spill.exists() else []:
        pid = int(path.name.split("-")[1])
        if not _alive(pid) or _old(path):
            shutil.rmtree(path, ignore_errors=True)
            result.temps += 1
    return result


def _stale(path: Path) -> bool:
    """Temporary names carry their writer's pid (`.<name>.<pid>[.<token>].tmp`): stale once that
    process is gone, or after an hour whatever the pid says (it may have been reused)."""
    m = _TEMP_PID.search(path.name)
    return _old(path) or (m is not None and not _alive(int(m.group(1))))


def _old(path: Path) -> bool:
    try:
        return time.time() - path.stat().st_mtime > STALE_TEMP.total_seconds()
    except FileNotFoundError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
