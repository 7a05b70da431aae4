"""Replacing a file so that no reader ever sees part of it: the one way neo writes a file whole."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path


def temp_path(final: Path) -> Path:
    """Unique per process and thread: two threads may replace the same file (a retried batch)."""
    return final.with_name(f".{final.name}.{os.getpid()}.{threading.get_ident() % 10**8:08d}.tmp")


def fsync(path: Path) -> None:
    """fsync a file, or a directory (which makes a rename in it durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_atomically(final: Path, write: Callable[[Path], object], *, durable: bool = True) -> None:
    """The one way neo replaces a file: `write` it under a temporary name in the same directory,
    fsync it, rename it over `final`, fsync the directory. Readers see the old file or the whole
    new one, never part of it; a crash leaves at most a temporary file (vacuum clears it).
    `durable=False` skips the fsyncs: still atomic for readers and killed processes, not for a
    power loss."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(final)
    try:
        write(tmp)
        if durable:
            fsync(tmp)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync(final.parent)


def write_atomically(final: Path, data: bytes, *, durable: bool = True) -> None:
    """`replace_atomically` with these bytes."""
    replace_atomically(final, lambda tmp: tmp.write_bytes(data), durable=durable)
