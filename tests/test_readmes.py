"""The English and Chinese READMEs name the same commands, make targets and settings: a newcomer
reading either one learns the same tool."""

from __future__ import annotations

import re

import typer.main

from neo.cli import app
from neo.core.config import Settings
from tests.conftest import ROOT

EN, ZH = ROOT / "README.md", ROOT / "README.zh-CN.md"


def _commands() -> set[str]:
    group = typer.main.get_command(app)
    names = set(group.commands)  # type: ignore[attr-defined]
    sim = group.commands.get("sim")  # type: ignore[attr-defined]
    names |= {f"sim {sub}" for sub in getattr(sim, "commands", {})}
    return names


def mentioned(text: str) -> dict[str, set[str]]:
    settings = set(Settings.model_fields)
    return {
        "commands": {c for c in _commands() if re.search(rf"\bneo {c}\b", text)},
        "make targets": set(re.findall(r"`make ([a-z-]+)", text)),
        "settings": {s for s in settings if re.search(rf"`{s}`|^{s} =", text, re.MULTILINE)},
        "variables": set(re.findall(r"\b(?:NEO|TUSHARE)_[A-Z_]+\b", text)),
        "options": set(re.findall(r"`(--[a-z-]+)", text)),
    }


def test_both_readmes_name_the_same_commands_and_settings() -> None:
    en, zh = mentioned(EN.read_text(encoding="utf-8")), mentioned(ZH.read_text(encoding="utf-8"))
    for kind in en:
        assert en[kind] == zh[kind], (
            f"{kind}: only in README.md: {sorted(en[kind] - zh[kind])}; "
            f"only in README.zh-CN.md: {sorted(zh[kind] - en[kind])}"
        )
    assert {"download", "query", "serve", "sim serve"} <= en["commands"]  # the check sees something


def test_each_readme_links_to_the_other() -> None:
    assert "README.zh-CN.md" in EN.read_text(encoding="utf-8")
    assert "(README.md)" in ZH.read_text(encoding="utf-8")
