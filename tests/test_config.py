from pathlib import Path

import pytest

from neo.config import load_settings
from neo.errors import ConfigError


def test_defaults_then_toml_then_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().home == Path("data")
    toml = tmp_path / "neo.toml"
    toml.write_text('home = "/srv/neo"\ntimeout = 5\n[quotas]\ndaily = 300\n')
    monkeypatch.setenv("NEO_CONFIG", str(toml))
    s = load_settings()
    assert (s.home, s.timeout, s.quota_for("daily")) == (Path("/srv/neo"), 5.0, 300)
    monkeypatch.setenv("NEO_TIMEOUT", "9")
    monkeypatch.setenv("NEO_HOME", str(tmp_path))
    s = load_settings()
    assert (s.home, s.timeout) == (tmp_path, 9.0)
    # Defaults for APIs not overridden survive a partial [quotas] table.
    assert s.quota_for("stock_basic") == 50 and s.quota_for("weekly") == s.default_quota


def test_unknown_key_in_toml_is_a_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "neo.toml"
    toml.write_text("hmoe = 'x'\n")
    monkeypatch.setenv("NEO_CONFIG", str(toml))
    with pytest.raises(ConfigError, match="unknown setting 'hmoe'") as err:
        load_settings()
    assert "\n" not in str(err.value)


def test_bad_values_and_bad_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEO_TIMEOUT", "-1")
    with pytest.raises(ConfigError, match="timeout"):
        load_settings()
    monkeypatch.delenv("NEO_TIMEOUT")
    monkeypatch.setenv("NEO_TUSHARE_URL", "ftp://x")
    with pytest.raises(ConfigError, match="tushare_url"):
        load_settings()
    monkeypatch.delenv("NEO_TUSHARE_URL")
    toml = tmp_path / "neo.toml"
    toml.write_text("home = \n")
    monkeypatch.setenv("NEO_CONFIG", str(toml))
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings()


def test_token_only_from_tushare_token_and_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "abcdef0123456789" * 3
    with pytest.raises(ConfigError, match="neo demo"):
        load_settings().token_value()
    monkeypatch.setenv("TUSHARE_TOKEN", secret)
    s = load_settings()
    assert s.token_value() == secret
    assert secret not in repr(s) and secret not in str(s) and secret not in s.model_dump_json()
    monkeypatch.setenv("TUSHARE_TOKEN", "   ")
    with pytest.raises(ConfigError):
        load_settings().token_value()
