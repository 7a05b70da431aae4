from pathlib import Path

import pytest

from neo.core.config import load_settings
from neo.core.errors import ConfigError


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
    monkeypatch.setenv("NEO_INDICES", "000300.SH")  # a list must be JSON in a variable
    with pytest.raises(ConfigError, match=r"bad setting indices: .*JSON"):
        load_settings()
    monkeypatch.setenv("NEO_INDICES", '["000300.SH"]')
    assert load_settings().indices == ["000300.SH"]
    monkeypatch.delenv("NEO_INDICES")
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


@pytest.mark.parametrize("key", ["TUSHARE_TOKEN", "tushare_token", "token"])
def test_a_token_in_neo_toml_is_refused_and_says_where_it_goes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    secret = "abcdef0123456789" * 3
    toml = tmp_path / "neo.toml"
    toml.write_text(f'{key} = "{secret}"\n')
    monkeypatch.setenv("NEO_CONFIG", str(toml))
    monkeypatch.setenv("TUSHARE_TOKEN", "from-the-environment")  # refused even when both are set
    with pytest.raises(ConfigError, match="must not hold the Tushare token") as err:
        load_settings()
    assert "export TUSHARE_TOKEN" in str(err.value) and secret not in str(err.value)
    assert "\n" not in str(err.value)


def test_only_reading_and_validating_the_file_are_reported_as_cannot_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = tmp_path / "neo.toml"
    toml.write_bytes(b"home = '\xff\xfe'\n")  # not UTF-8: the file cannot be read as TOML
    monkeypatch.setenv("NEO_CONFIG", str(toml))
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings()
    monkeypatch.setenv("NEO_CONFIG", str(tmp_path / "absent.toml"))

    def bug(text: str) -> None:
        raise RuntimeError("a bug in neo, not in neo.toml")

    monkeypatch.setattr("neo.core.config.parse_duration", bug)
    with pytest.raises(RuntimeError, match="a bug in neo"):  # not disguised as a settings problem
        load_settings()


def test_a_cron_line_huey_cannot_run_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEO_COMPACT_CRON", "61 * * * *")
    with pytest.raises(ConfigError, match="compact_cron"):
        load_settings()
    monkeypatch.setenv("NEO_COMPACT_CRON", "")
    assert load_settings().compact_cron == ""
