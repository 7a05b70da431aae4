"""Record one dependency set's test run in docs/compatibility.md (called by scripts/test-venv.sh).

Each set owns the section between its two marker comments; the rest of the page is hand-written.
"""

from __future__ import annotations

import datetime as dt
import sys
import tomllib
import xml.etree.ElementTree as ET
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "compatibility.md"


def runtime_names() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["pandas"] + ["polars"]
    return [r.split(">")[0].split("=")[0].split("<")[0].split("[")[0].strip() for r in requirements]


def section(set_name: str, venv: Path) -> str:
    if not (venv / "junit.xml").exists():
        return f"Run on {dt.date.today().isoformat()}: the suite did not start (see the command's output)."
    suites = ET.parse(venv / "junit.xml").getroot()
    suite = suites if suites.tag == "testsuite" else suites.find("testsuite")
    assert suite is not None
    total, failures, errors, skipped = (
        int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")
    )
    failed = [
        f"{case.get('classname')}::{case.get('name')}"
        for case in suite.iter("testcase")
        if case.find("failure") is not None or case.find("error") is not None
    ]
    lines = [
        f"Run on {dt.date.today().isoformat()} with Python {sys.version.split()[0]}: "
        f"{total - failures - errors - skipped} passed, {failures + errors} failed, {skipped} skipped.",
        "",
        "| package | version |",
        "|---|---|",
        *(f"| {name} | {metadata.version(name)} |" for name in runtime_names()),
    ]
    if failed:
        lines += ["", "Failed:", "", *(f"- `{name}`" for name in failed)]
    return "\n".join(lines)


def main(set_name: str, venv: str) -> None:
    begin, end = f"<!-- {set_name}: begin -->", f"<!-- {set_name}: end -->"
    page = PAGE.read_text(encoding="utf-8")
    if begin not in page:
        raise SystemExit(f"{PAGE} has no '{begin}' marker")
    head, rest = page.split(begin, 1)
    tail = rest.split(end, 1)[1]
    PAGE.write_text(f"{head}{begin}\n{section(set_name, Path(venv))}\n{end}{tail}", encoding="utf-8")
    print(f"recorded the {set_name} run in {PAGE.relative_to(ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
