"""Print pyproject's runtime dependencies at their lower bounds, as pip constraints.

`make test-oldest` installs with these, so each lower bound pyproject declares is one the suite has
run on. Extras named on the command line (default: pandas) are included.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def lower_bounds(extras: list[str]) -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += project["optional-dependencies"][extra]
    pins = []
    for requirement in requirements:
        match = re.match(r"^([A-Za-z0-9_.\-]+)\s*(?:\[[^\]]*\])?\s*[^#]*?>=\s*([^,\s;]+)", requirement)
        if match:
            pins.append(f"{match.group(1)}=={match.group(2)}")
    return pins


if __name__ == "__main__":
    print("\n".join(lower_bounds(sys.argv[1:] or ["pandas"])))
