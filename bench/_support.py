"""Puts the repository on the import path, so that a benchmark run as `python bench/<name>.py` can
import the helpers it shares with the tests (tests/support: running processes, writing a legacy
database). Import it before them."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
