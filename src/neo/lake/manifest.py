"""The manifest: which files of a dataset are live. Its replacement is compaction's commit point.

A dataset's live files are the compacted files its manifest lists, plus every fresh file of the
generations from `fresh_from` on. Views list exactly those (see catalog.py), so at a commit the
files that compaction replaced leave the file list of every new query at once, yet stay on disk
for the queries and connections that still use them; vacuum deletes them only when no state that
was current within the grace period refers to them.

Ingestion writes fresh files into the current generation while holding `_manifest.lock` shared.
Compaction takes it exclusively only to start a new generation (a few microseconds once the files
being written are done), so every file of an older generation is complete when compaction reads it,
and a file written while compaction runs belongs to a generation it does not touch.

Views also list the generation after the current one, so starting a new generation never hides a
file from views synced before it. Each listed generation has a zero-row placeholder file, because
a DuckDB glob that matches nothing is an error.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from neo.core.errors import NeoError
from neo.datasets import DatasetSpec
from neo.lake import layout

MANIFEST = "_manifest.json"
WRITE_LOCK = "_manifest.lock"
MAINT_LOCK = "_maint.lock"
BUSY = "another compaction or vacuum is running"


class Busy(NeoError):
    """Another compaction or vacuum holds the dataset."""


@dataclass(frozen=True)
class State:
    version: int = 1
    generation: int = 1  # ingestion writes into this generation
    fresh_from: int = 1  # fresh files of this generation and later ones are live
    compacted: tuple[str, ...] = ()  # live compacted files, relative to the dataset directory

    def view_generations(self) -> range:
        return range(self.fresh_from, self.generation + 2)

    def refers_to(self, rel: str) -> bool:
        gen = layout.generation_of(Path(rel))
        return rel in self.compacted or (gen is not None and gen in self.view_generations())


@dataclass(frozen=True)
class Retired:
    until: datetime  # when the next state replaced it
    state: State


@dataclass
class Manifest:
    state: State = field(default_factory=State)
    retired: list[Retired] = field(default_factory=list)

    def in_use_since(self, cutoff: datetime) -> list[State]:
        """The states that were current at some time after `cutoff`."""
        return [self.state] + [r.state for r in self.retired if r.until > cutoff]


def path(lake: Path, spec: DatasetSpec) -> Path:
    return layout.dataset_dir(lake, spec) / MANIFEST


def read(lake: Path, spec: DatasetSpec) -> Manifest:
    """The dataset's manifest; a dataset never compacted has the initial one (no file needed)."""
    try:
        doc = json.loads(path(lake, spec).read_text())
    except FileNotFoundError:
        return Manifest()
    except (OSError, ValueError) as exc:
        raise NeoError(f"{spec.name}: cannot read {path(lake, spec)}: {exc}") from None
    return Manifest(
        _state(doc["state"]),
        [Retired(datetime.fromisoformat(r["until"]), _state(r["state"])) for r in doc.get("retired", [])],
    )


def _state(doc: dict) -> State:
    return State(doc["version"], doc["generation"], doc["fresh_from"], tuple(doc["compacted"]))


def _doc(state: State) -> dict:
    return {
        "version": state.version,
        "generation": state.generation,
        "fresh_from": state.fresh_from,
        "compacted": list(state.compacted),
    }


def write(lake: Path, spec: DatasetSpec, manifest: Manifest) -> None:
    """Replace the manifest atomically and durably. Callers hold the maintenance lock."""
    target = path(lake, spec)
    target.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "state": _doc(manifest.state),
        "retired": [{"until": r.until.isoformat(), "state": _doc(r.state)} for r in manifest.retired],
    }
    tmp = layout.temp_path(target)
    try:
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    layout.fsync(target.parent)


def commit(lake: Path, spec: DatasetSpec, manifest: Manifest, state: State) -> Manifest:
    """Make `state` current; the old one is kept (retired) for vacuum's grace period."""
    new = Manifest(
        replace(state, version=manifest.state.version + 1),
        [*manifest.retired, Retired(datetime.now(UTC), manifest.state)],
    )
    write(lake, spec, new)
    return new


@contextmanager
def _flock(file: Path, mode: int) -> Iterator[None]:
    file.parent.mkdir(parents=True, exist_ok=True)
    # A new open file per holder: flock belongs to the open file, so threads must not share one.
    fd = os.open(file, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, mode)
        yield
    finally:
        os.close(fd)


@contextmanager
def writing(lake: Path, spec: DatasetSpec) -> Iterator[int]:
    """Hold while writing fresh files: yields the generation to write into."""
    with _flock(layout.dataset_dir(lake, spec) / WRITE_LOCK, fcntl.LOCK_SH):
        yield read(lake, spec).state.generation


@contextmanager
def maintenance(lake: Path, spec: DatasetSpec) -> Iterator[Manifest]:
    """One compaction or vacuum per dataset at a time; the other one is told, not made to wait."""
    try:
        with _flock(layout.dataset_dir(lake, spec) / MAINT_LOCK, fcntl.LOCK_EX | fcntl.LOCK_NB):
            yield read(lake, spec)
    except BlockingIOError:
        raise Busy(f"{spec.name}: {BUSY}") from None


def new_generation(lake: Path, spec: DatasetSpec, manifest: Manifest) -> Manifest:
    """Start a new generation once the files being written into the current one are complete.
    The caller has written the placeholder of generation + 2, which the new state's views list."""
    with _flock(layout.dataset_dir(lake, spec) / WRITE_LOCK, fcntl.LOCK_EX):
        state = manifest.state
        return commit(lake, spec, manifest, replace(state, generation=state.generation + 1))


def live_sources(lake: Path, spec: DatasetSpec, state: State) -> tuple[list[str], list[str]]:
    """Absolute paths of the live compacted files, and globs of the live fresh generations."""
    base = layout.dataset_dir(lake.resolve(), spec)
    compacted = [str(base / rel) for rel in state.compacted]
    return compacted, [layout.generation_glob(lake, spec, g) for g in state.view_generations()]


def fresh_files(lake: Path, spec: DatasetSpec, generations: range) -> list[Path]:
    """Fresh data files (no placeholders) of the given generations, in name order."""
    base = layout.dataset_dir(lake, spec)
    found = []
    for p in base.rglob("g*.parquet"):
        gen = layout.generation_of(p)
        if gen is not None and gen in generations and not layout.is_placeholder(p):
            found.append(p)
    return sorted(found)


def live_files(lake: Path, spec: DatasetSpec) -> list[Path]:
    """Every live data file of a dataset (placeholders excluded)."""
    state = read(lake, spec).state
    base = layout.dataset_dir(lake, spec)
    return [base / rel for rel in state.compacted] + fresh_files(lake, spec, state.view_generations())
