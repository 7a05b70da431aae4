"""`neo report`: one self-contained HTML page picturing the lake's coverage (coverage.py gathers,
html.py renders)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from neo.core import files
from neo.core.config import Settings
from neo.core.errors import UsageError
from neo.report.coverage import LakeReport, Status, gather
from neo.report.html import render

__all__ = ["LakeReport", "Status", "gather", "render", "write_report"]


def write_report(
    settings: Settings,
    output: Path | None = None,
    now: datetime | None = None,
    on_dataset: Callable[[str, int, int], None] | None = None,
) -> tuple[Path, LakeReport]:
    """Gather, render and write the page. An output that cannot be written fails before the lake
    is read; the page replaces the old one whole, so a browser reloading it never sees half a page."""
    target = output or settings.report_path
    if target.is_dir():
        raise _unwritable(target, "it is a directory")
    probe = files.temp_path(target)
    try:
        probe.touch()  # fail now, not after reading the whole lake
        probe.unlink()
    except OSError as exc:
        raise _unwritable(target, exc.strerror or str(exc)) from None
    report = gather(settings, now, on_dataset)
    page = render(report).encode()
    try:
        files.write_atomically(target, page, durable=False)  # a page, not data: no fsync
    except OSError as exc:
        raise _unwritable(target, exc.strerror or str(exc)) from None
    return target, report


def _unwritable(target: Path, why: str) -> UsageError:
    return UsageError(f"cannot write the report to {target}: {why}")
