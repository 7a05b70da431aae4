"""`neo report`: one self-contained HTML page picturing the lake's coverage (coverage.py gathers,
html.py renders)."""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime
from pathlib import Path

from neo.app import AppContainer
from neo.core.errors import UsageError
from neo.report.coverage import LakeReport, Status, gather
from neo.report.html import render

__all__ = ["LakeReport", "Status", "default_path", "gather", "render", "write_report"]


def default_path(container: AppContainer) -> Path:
    return container.settings.report_path


def write_report(
    container: AppContainer,
    output: Path | None = None,
    now: datetime | None = None,
    on_dataset: Callable[[str, int, int], None] | None = None,
) -> tuple[Path, LakeReport]:
    """Gather, render and write the page. An output that cannot be written fails before the lake
    is read; the page replaces the old one whole, so a browser reloading it never sees half a page."""
    target = output or default_path(container)
    if target.is_dir():
        raise _unwritable(target, "it is a directory")
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        tmp.touch()  # fail now, not after reading the whole lake
    except OSError as exc:
        raise _unwritable(target, exc.strerror or str(exc)) from None
    try:
        report = gather(container, now, on_dataset)
        page = render(report)
        try:
            tmp.write_text(page, encoding="utf-8")
            os.replace(tmp, target)
        except OSError as exc:
            raise _unwritable(target, exc.strerror or str(exc)) from None
    finally:
        with suppress(OSError):
            tmp.unlink(missing_ok=True)
    return target, report


def _unwritable(target: Path, why: str) -> UsageError:
    return UsageError(f"cannot write the report to {target}: {why}")
