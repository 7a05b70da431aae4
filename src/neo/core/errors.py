"""Errors that reach the user as one line (the CLI prints `error: <message>` and exits non-zero)."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path


class NeoError(Exception):
    """Base class: anything the user can act on. str(err) is a complete one-line message."""

    exit_code = 2


class ConfigError(NeoError):
    """Bad settings (neo.toml, NEO_* variables) or a missing token."""


class UsageError(NeoError):
    """Bad command-line input that the argument parser could not catch (e.g. a malformed --param)."""


class SchemaError(NeoError):
    """A batch that cannot be cast to its dataset's declared schema."""


class StorageError(NeoError):
    """The data root cannot be written: the disk is full or read-only. Nothing written is lost."""

    exit_code = 1


class LakeFileError(NeoError):
    """A file in the lake is damaged, foreign or missing: neo stops rather than skip its rows."""

    exit_code = 1


_STORAGE = {
    errno.ENOSPC: ("no space left on the device", "make room"),
    errno.EDQUOT: ("the disk quota is exceeded", "make room"),
    errno.EROFS: ("the file system is read-only", "make it writable"),
    errno.EACCES: ("permission denied", "make it writable"),
    errno.EIO: ("the disk reported an I/O error (full?)", "check the disk, make room"),
}
# The same conditions as SQLite and DuckDB report them.
_STORAGE_TEXT = {
    "database or disk is full": errno.ENOSPC,
    "No space left on device": errno.ENOSPC,
    "Disk quota exceeded": errno.EDQUOT,
    "attempt to write a readonly database": errno.EROFS,
    "Read-only file system": errno.EROFS,
    "disk I/O error": errno.EIO,  # SQLite's word for a write that failed, often on a full disk
}
_CORRUPT = re.compile(r"No magic bytes found at end of file '([^']+)'")
_MISSING = re.compile(r"(?:Cannot open file|No files found that match the pattern) \"([^\"]+)\"")


def storage_error(code: int, where: str | Path | None = None) -> StorageError:
    what, remedy = _STORAGE[code]
    at = f" ({where})" if where else ""
    return StorageError(
        f"cannot write to the data root: {what}{at}. Nothing already written is lost; "
        f"{remedy} and run the same command again"
    )


def unreadable(path: str | Path) -> LakeFileError:
    return LakeFileError(
        f"{path} is not a readable Parquet file (damaged, or not written by neo); "
        "move it out of the lake and run the command again (`neo verify` lists every such file)"
    )


def check_writable(root: Path) -> None:
    """Fail early, with the reason, when the data root (or where it will be made) cannot be written:
    SQLite only says "unable to open database file" on a read-only file system."""
    probe = root
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not os.access(probe, os.W_OK):
        read_only = os.statvfs(probe).f_flag & os.ST_RDONLY
        raise storage_error(errno.EROFS if read_only else errno.EACCES, probe)


def check_exists(root: Path) -> None:
    """A reading command needs a data root to read: one line naming the one it was given, before
    anything is opened (opening would create files there)."""
    if not root.is_dir():
        what = "is not a directory" if root.exists() else "does not exist"
        raise UsageError(
            f"the data root {root.absolute()} {what}: set NEO_HOME (or home in neo.toml) to the "
            "directory neo downloaded into, or run `neo download` first"
        )


def explain(exc: BaseException) -> NeoError | None:
    """The one-line error for a failure of the environment rather than of neo: a full or read-only
    disk, or a damaged or missing file in the lake. None when `exc` is none of these."""
    if isinstance(exc, NeoError):
        return exc
    text = str(exc)
    if isinstance(exc, OSError) and exc.errno in _STORAGE and exc.errno not in (errno.EACCES, errno.EIO):
        return storage_error(exc.errno, exc.filename)
    if (code := next((c for needle, c in _STORAGE_TEXT.items() if needle in text), None)) is not None:
        return storage_error(code)
    if "Out of Memory Error" in text:
        return NeoError(
            f"DuckDB ran out of memory ({first_line(text)}); for `neo compact`, raise "
            "compact_memory_limit or lower compact_threads"
        )
    if m := _CORRUPT.search(text):
        return unreadable(m.group(1))
    if m := _MISSING.search(text):
        return LakeFileError(
            f"{m.group(1)} is missing from the lake (deleted outside neo?); "
            "run `neo sync`, then `neo verify` to check the lake"
        )
    return None


def first_line(what: str | BaseException) -> str:
    """The first line of a message or an exception's text (an exception without text: its name)."""
    text = str(what).strip()
    if text:
        return text.splitlines()[0]
    return type(what).__name__ if isinstance(what, BaseException) else ""
