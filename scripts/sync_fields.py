"""Regenerate src/neo/datasets/fields.json from ../shared/tushare/schemas.json.

The package ships its own compact copy of the field lists so that it works without ../shared;
tests/test_datasets.py fails when the copy drifts from the shared file.

Usage: python scripts/sync_fields.py [path/to/schemas.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "neo" / "datasets" / "fields.json"


def compact(schemas: dict) -> dict:
    out = {}
    for api, spec in schemas.items():
        out[api] = {
            "fields": [
                {
                    "name": f["name"],
                    "type": f["type"],
                    "default": bool(f.get("default", True)),
                    **({"format": f["format"]} if f.get("format") else {}),
                }
                for f in spec["fields"]
            ],
            "params": [p["name"] for p in spec["params"]],
            "required": [p["name"] for p in spec["params"] if p.get("required")],
            "primary_key": spec["primary_key"],
            "max_rows": spec.get("max_rows"),
        }
    return out


def main() -> None:
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "tushare" / "schemas.json"
    data = compact(json.loads(src.read_text(encoding="utf-8")))
    OUT.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)} ({len(data)} APIs)")


if __name__ == "__main__":
    main()
