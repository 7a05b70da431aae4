"""The manifest: which files of a dataset are live, each named, with what views need to know of it.

A dataset's live files are the compacted files its manifest lists, plus the fresh files registered
in the generations from `fresh_from` on. Nothing else in the directory is read: a file no writer
registered (a crashed write, a stray copy, a user's COPY TO) never reaches a query.

Two records, both under the dataset's directory:
- `_manifest.json`, the state: version, generation, fresh_from and the compacted files. Replacing
  it is compaction's commit point: the files compaction replaced leave every new file list at once,
  yet stay on disk for the queries and connections that still use them; vacuum deletes them only
  when no state current within the grace period refers to them.
- `_fresh/g<gen>.jsonl`, one line per fresh file written into that generation, appended by the
  writer once the file is durable (`register`). Append-only, so writers in several processes only
  serialise for the append itself (`_fresh.lock`), and a generation's record is dropped whole once
  compaction has merged it and the grace period has passed.

Each file carries its row count, download time and *box*: the range of its rows on the date column
and on the first other key column. Every key of a dated dataset holds its date, so two files whose
boxes do not intersect cannot share a key. A fresh file is registered with `overlaps` set when its
box meets a live file's: only such files, and the files they meet, need the views' latest-wins
window (catalog.py); the rest are read as they are.

Ingestion writes fresh files into the current generation while holding `_manifest.lock` shared.
Compaction takes it exclusively only to start a new generation (a few microseconds once the files
being written are done), so every file of an older generation is complete and registered when
compaction reads it, and a file written while compaction runs belongs to a generation it does not
touch.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from neo.core import files
from neo.core.errors import NeoError
from neo.datasets import DatasetSpec
from neo.lake import layout

log = logging.getLogger("neo.manifest")

MANIFEST = "_manifest.json"
WRITE_LOCK = "_manifest.lock"
MAINT_LOCK = "_maint.lock"
FRESH_DIR = "_fresh"
FRESH_LOCK = "_fresh.lock"
BUSY = "another compaction or vacuum is running"


class Busy(NeoError):
    """Another compaction or vacuum holds the dataset."""


@dataclass(frozen=True)
class Box:
    """The range of a file's rows on the dataset's date column and on its first other key column
    (`keys` None: no such column, it is not text, or it holds a NULL: the file may hold any)."""

    dates: tuple[str, str]
    keys: tuple[str, str] | None = None

    def meets(self, other: Box) -> bool:
        if self.dates[0] > other.dates[1] or other.dates[0] > self.dates[1]:
            return False
        if self.keys is None or other.keys is None:
            return True
        return not (self.keys[0] > other.keys[1] or other.keys[0] > self.keys[1])


@dataclass(frozen=True)
class LiveFile:
    rel: str  # relative to the dataset directory
    rows: int | None = None
    fetched_at: str | None = None  # ISO, UTC: fresh files their batch's; compacted files the newest
    box: Box | None = None  # None: unknown, so it may share a key with any file
    overlaps: bool = False  # fresh files: its box met a live file's when it was registered

    def meets(self, other: LiveFile) -> bool:
        return self.box is None or other.box is None or self.box.meets(other.box)

    def doc(self) -> dict[str, Any]:
        box = self.box
        return {
            "file": self.rel,
            "rows": self.rows,
            "fetched_at": self.fetched_at,
            "box": None if box is None else [*box.dates, *(box.keys or (None, None))],
            **({"overlaps": True} if self.overlaps else {}),
        }


def _live_file(doc: dict[str, Any] | str) -> LiveFile:
    if isinstance(doc, str):  # a manifest written before files carried their box
        return LiveFile(doc)
    raw = doc.get("box")
    box = None
    if raw is not None:
        box = Box((raw[0], raw[1]), None if raw[2] is None else (raw[2], raw[3]))
    return LiveFile(doc["file"], doc.get("rows"), doc.get("fetched_at"), box, bool(doc.get("overlaps")))


@dataclass(frozen=True)
class State:
    version: int = 1
    generation: int = 1  # ingestion writes into this generation
    fresh_from: int = 1  # fresh files of this generation and later ones are live
    compacted: tuple[LiveFile, ...] = ()  # live compacted files

    def live_generations(self) -> range:
        return range(self.fresh_from, self.generation + 1)

    @property
    def compacted_rels(self) -> tuple[str, ...]:
        return tuple(f.rel for f in self.compacted)

    def refers_to(self, rel: str) -> bool:
        """Whether this state may list the file: a compacted file it names, or a file of one of its
        generations (registered, or being registered right now)."""
        gen = layout.generation_of(Path(rel))
        return rel in self.compacted_rels or (gen is not None and gen >= self.fresh_from)


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


@dataclass(frozen=True)
class Live:
    """A dataset's live files: compacted ones (each key once among them) and fresh ones; `lost`,
    the ones listed yet gone from disk (deleted by hand, a damaged disk): left out of the views,
    so the rest stays readable and the planner sees the gap, and reported by `neo verify`."""

    compacted: tuple[LiveFile, ...]
    fresh: tuple[LiveFile, ...]
    lost: tuple[LiveFile, ...] = ()

    @property
    def files(self) -> tuple[LiveFile, ...]:
        return self.compacted + self.fresh

    def contested(self) -> set[str]:
        """The files whose rows may share a key with another live file's: the fresh files that
        met a live file when registered, and every live file such a file meets."""
        flagged = [f for f in self.fresh if f.overlaps]
        if not flagged:
            return set()
        return {f.rel for f in flagged} | {
            f.rel for f in self.files if any(f is not g and f.meets(g) for g in flagged)
        }


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
    compacted = tuple(_live_file(c) for c in doc["compacted"])
    return State(doc["version"], doc["generation"], doc["fresh_from"], compacted)


def _doc(state: State) -> dict:
    return {
        "version": state.version,
        "generation": state.generation,
        "fresh_from": state.fresh_from,
        "compacted": [f.doc() for f in state.compacted],
    }


def write(lake: Path, spec: DatasetSpec, manifest: Manifest) -> None:
    """Replace the manifest atomically and durably. Callers hold the maintenance lock."""
    doc = {
        "state": _doc(manifest.state),
        "retired": [{"until": r.until.isoformat(), "state": _doc(r.state)} for r in manifest.retired],
    }
    files.write_atomically(path(lake, spec), json.dumps(doc, indent=1).encode())


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
    """Hold while writing and registering fresh files: yields the generation to write into."""
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
    """Start a new generation once the files being written into the current one are complete and
    registered."""
    with _flock(layout.dataset_dir(lake, spec) / WRITE_LOCK, fcntl.LOCK_EX):
        state = manifest.state
        return commit(lake, spec, manifest, replace(state, generation=state.generation + 1))


# --- the record of fresh files ---------------------------------------------------------------------


def fresh_dir(lake: Path, spec: DatasetSpec) -> Path:
    return layout.dataset_dir(lake, spec) / FRESH_DIR


def record_path(lake: Path, spec: DatasetSpec, generation: int) -> Path:
    return fresh_dir(lake, spec) / f"g{generation:0{layout.GEN_DIGITS}d}.jsonl"


def register(
    lake: Path, spec: DatasetSpec, generation: int, files: list[LiveFile], *, durable: bool = True
) -> list[LiveFile]:
    """Record fresh files written into `generation` (under `writing`), each with `overlaps` set
    when its box meets a live file's; returns them as recorded. The files are whole already, so a
    crash before this leaves an unlisted file for vacuum, never a listed file that is partial or
    missing. `durable` fsyncs the record (the writer's `fsync` setting)."""
    if not files:
        return []
    with _flock(layout.dataset_dir(lake, spec) / FRESH_LOCK, fcntl.LOCK_EX):
        if not fresh_dir(lake, spec).exists():
            _adopt(lake, spec, exclude={f.rel for f in files})
        index = _index_of(lake, spec)
        recorded = [replace(f, overlaps=index.meets(f)) for f in files]
        record = record_path(lake, spec, generation)
        lines = b"".join(orjson.dumps(f.doc()) + b"\n" for f in recorded)
        fd = os.open(record, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                lines = b"\n" + lines  # a crashed append left half a line: end it, it is skipped
            os.write(fd, lines)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
    return recorded


def adopt(lake: Path, spec: DatasetSpec) -> None:
    """Record the fresh files of a lake written before fresh files were recorded (an older neo
    listed them by generation alone). Writers call it before their first write (AppContainer), so
    no file of theirs is mistaken for an old one."""
    if fresh_dir(lake, spec).exists() or not layout.dataset_dir(lake, spec).exists():
        return
    with _flock(layout.dataset_dir(lake, spec) / FRESH_LOCK, fcntl.LOCK_EX):
        if not fresh_dir(lake, spec).exists():
            _adopt(lake, spec, exclude=set())


def _adopt(lake: Path, spec: DatasetSpec, exclude: set[str]) -> None:
    """Under the record lock: record the unrecorded files (box unknown, so they go through the
    latest-wins window as they did then), all at once by renaming the finished directory into
    place; with none, just the empty directory."""
    target = fresh_dir(lake, spec)
    stage = target.with_name(f".{FRESH_DIR}.{os.getpid()}.tmp")
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    for f in _unrecorded(lake, spec, read(lake, spec).state):
        if f.rel in exclude:
            continue
        gen = layout.generation_of(Path(f.rel)) or 0
        with open(stage / record_path(lake, spec, gen).name, "ab") as out:
            out.write(orjson.dumps(f.doc()) + b"\n")
    for p in stage.iterdir():
        files.fsync(p)
    os.replace(stage, target)
    files.fsync(target.parent)


def _unrecorded(lake: Path, spec: DatasetSpec, state: State) -> list[LiveFile]:
    base = layout.dataset_dir(lake, spec)
    found = []
    for p in sorted(base.rglob("g*.parquet")) if base.exists() else []:
        gen = layout.generation_of(p)
        if gen is not None and gen >= state.fresh_from and not layout.is_placeholder(p):
            found.append(LiveFile(p.relative_to(base).as_posix(), overlaps=True))
    return found


@dataclass
class _Record:
    """One generation's record, parsed up to `offset` (a record only grows, by whole lines)."""

    inode: int
    offset: int = 0
    files: list[LiveFile] = field(default_factory=list)


# Parsed records by path: readers in one process (status, serve, the writer's overlap check) read
# only what was appended since they last looked.
_records: dict[Path, _Record] = {}
_records_lock = threading.Lock()


def _read_record(record: Path) -> list[LiveFile]:
    with _records_lock:
        try:
            st = record.stat()
        except FileNotFoundError:
            _records.pop(record, None)
            return []
        rec = _records.get(record)
        if rec is None or rec.inode != st.st_ino or st.st_size < rec.offset:
            rec = _records[record] = _Record(st.st_ino)
        if st.st_size > rec.offset:
            with open(record, "rb") as f:
                f.seek(rec.offset)
                data = f.read(st.st_size - rec.offset)
            whole = data.rfind(b"\n") + 1  # a line still being appended is read next time
            for line in data[:whole].splitlines():
                try:
                    rec.files.append(_live_file(orjson.loads(line)))
                except (orjson.JSONDecodeError, KeyError, TypeError, IndexError):
                    if line.strip():
                        log.warning(
                            "%s: skipped a damaged line (a crashed write; its file is not listed)", record
                        )
            rec.offset += whole
        return rec.files  # shared: callers read it, never change it


_TOP = "\U0010ffff"  # sorts after any text: the upper end of an unbounded range


class _Boxes:
    """The boxes of a dataset's live files as NumPy columns, grown as files are registered: the
    overlap check of each new file is then one vectorised comparison, not a loop over thousands
    of files (a minute-bar history registers tens of thousands)."""

    def __init__(self) -> None:
        self.n = 0
        self.cols = [np.empty(64, dtype="U32") for _ in range(4)]  # date lo, hi; key lo, hi
        self.rels: dict[str, list[int]] = {}

    def add(self, files: Iterable[LiveFile]) -> None:
        for f in files:
            if self.n == len(self.cols[0]):
                self.cols = [np.concatenate([c, np.empty_like(c)]) for c in self.cols]
            for col, value in zip(self.cols, _bounds(f.box), strict=True):
                col[self.n] = value
            self.rels.setdefault(f.rel, []).append(self.n)
            self.n += 1

    def meets(self, f: LiveFile) -> bool:
        """Whether `f` may share a key with a file already added (other than an earlier copy of
        itself: a retried batch replaces its own file)."""
        dlo, dhi, klo, khi = (c[: self.n] for c in self.cols)
        blo, bhi, bklo, bkhi = _bounds(f.box)
        hit = (dlo <= bhi) & (blo <= dhi) & (klo <= bkhi) & (bklo <= khi)
        for i in self.rels.get(f.rel, []):
            hit[i] = False
        return bool(hit.any())


def _bounds(box: Box | None) -> tuple[str, str, str, str]:
    """A box as four sortable texts; an unknown or unbounded side spans everything. Texts longer
    than the columns hold are cut, which only widens nothing: the cut lower bound sorts no later,
    and an upper bound is then taken as unbounded."""
    if box is None:
        return ("", _TOP, "", _TOP)
    keys = box.keys or ("", _TOP)

    def hi(v: str) -> str:
        return v if len(v) <= 32 else _TOP

    return (box.dates[0][:32], hi(box.dates[1]), keys[0][:32], hi(keys[1]))


@dataclass
class _Index:
    state: State
    boxes: _Boxes
    counted: dict[Path, int]  # files of each record already in `boxes`

    def meets(self, f: LiveFile) -> bool:
        return self.boxes.meets(f)


_indexes: dict[tuple[Path, str], _Index] = {}


def _index_of(lake: Path, spec: DatasetSpec) -> _Index:
    """The boxes of the dataset's live files, brought up to date: rebuilt when the state changed
    (a compaction, a new generation), else extended by what was registered since."""
    state = read(lake, spec).state
    key = (lake.resolve(), spec.name)
    index = _indexes.get(key)
    if index is None or index.state != state:
        index = _indexes[key] = _Index(state, _Boxes(), {})
        index.boxes.add(state.compacted)
    for gen in state.live_generations():
        record = record_path(lake, spec, gen)
        files = _read_record(record)
        n = len(files)
        index.boxes.add(files[index.counted.get(record, 0) : n])
        index.counted[record] = n
    return index


def fresh(lake: Path, spec: DatasetSpec, generations: Iterable[int]) -> list[LiveFile]:
    """The registered fresh files of these generations, in the order they were registered (a
    retried batch that replaced its own file is listed once)."""
    if not fresh_dir(lake, spec).exists():
        state = read(lake, spec).state
        wanted = set(generations)
        return [f for f in _unrecorded(lake, spec, state) if layout.generation_of(Path(f.rel)) in wanted]
    by_rel: dict[str, LiveFile] = {}
    for gen in generations:
        for f in _read_record(record_path(lake, spec, gen)):
            by_rel.pop(f.rel, None)
            by_rel[f.rel] = f
    return list(by_rel.values())


def live(lake: Path, spec: DatasetSpec) -> Live:
    """The dataset's live files now, those still on disk apart from those lost."""
    state = read(lake, spec).state
    base = layout.dataset_dir(lake, spec)
    listed = [*state.compacted, *fresh(lake, spec, state.live_generations())]
    lost = {f.rel for f in listed if not (base / f.rel).exists()}
    if not lost:
        return Live(state.compacted, tuple(listed[len(state.compacted) :]))
    kept = [f for f in listed if f.rel not in lost]
    return Live(
        tuple(f for f in kept if f in state.compacted),
        tuple(f for f in kept if f not in state.compacted),
        tuple(f for f in listed if f.rel in lost),
    )


def fresh_files(lake: Path, spec: DatasetSpec, generations: Iterable[int]) -> list[Path]:
    """Paths of the registered fresh files of the given generations."""
    base = layout.dataset_dir(lake, spec)
    return [base / f.rel for f in fresh(lake, spec, generations)]


def live_files(lake: Path, spec: DatasetSpec) -> list[Path]:
    """Every live data file of a dataset."""
    base = layout.dataset_dir(lake, spec)
    return [base / f.rel for f in live(lake, spec).files]
