"""Where benchmarks write their figures: bench/results/<name>.md (ignored by git)."""

from __future__ import annotations

from pathlib import Path


def save(name: str, lines: list[str]) -> Path:
    out = Path(__file__).parent / "results" / f"{name}.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")
    return out
