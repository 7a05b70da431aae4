"""Settings: defaults < neo.toml < NEO_* environment variables < explicit arguments.

The token comes from TUSHARE_TOKEN only and is held as a SecretStr, so it never shows in a repr,
a log line or an error message.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from neo.core.backends import check_url
from neo.core.dates import parse_duration
from neo.core.errors import ConfigError, UsageError, first_line

DEFAULT_TUSHARE_URL = "http://api.tushare.pro"

# The minute frequencies stk_mins and idx_mins serve (MINUTES.md); datasets.MINUTE_BARS has their grids.
MINUTE_FREQS = ("1min", "5min", "15min", "30min", "60min")

# Calls per minute per API for a 5000-point account; NOTES.md: daily 500/min, stock_basic 50/min.
# Everything not listed uses `default_quota`. 0 means no limit on our side.
DEFAULT_QUOTAS: dict[str, int] = {"stock_basic": 50}


_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}
_UNITS |= {"KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def memory_bytes(text: str) -> int:
    """A DuckDB-style memory size ("1GB", "450MB", "2GiB") in bytes."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]I?B|B)?\s*", text.upper())
    if m is None:
        raise ValueError(f"expected a size such as 512MB or 2GB, got {text!r}")
    return int(float(m.group(1)) * _UNITS[m.group(2) or ""])


def config_path() -> Path:
    return Path(os.environ.get("NEO_CONFIG", "neo.toml"))


# SSE Composite, SZSE Component, SSE 50, CSI 300, CSI 500, CSI 1000, ChiNext, STAR 50.
DEFAULT_INDICES = (
    "000001.SH",
    "399001.SZ",
    "000016.SH",
    "000300.SH",
    "000905.SH",
    "000852.SH",
    "399006.SZ",
    "000688.SH",
)


class Settings(BaseSettings):
    """All of neo's settings. Every field can be set in neo.toml or as NEO_<FIELD> (upper case)."""

    model_config = SettingsConfigDict(
        env_prefix="NEO_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    home: Path = Field(Path("data"), description="Data root: parquet/, metadata.db, queue and state files.")
    tushare_url: str = Field(DEFAULT_TUSHARE_URL, description="Base URL of the Tushare Pro HTTP API.")
    token: SecretStr | None = Field(
        None, validation_alias="TUSHARE_TOKEN", description="Tushare Pro token (TUSHARE_TOKEN only)."
    )
    timeout: float = Field(30.0, gt=0, description="Seconds to wait for one HTTP reply.")
    retries: int = Field(5, ge=0, description="Retries of a transient failure before failing loudly.")
    backoff_base: float = Field(0.5, ge=0, description="First retry delay in seconds (doubles each time).")
    backoff_max: float = Field(30.0, ge=0, description="Upper bound of one retry delay in seconds.")
    quota_waits: int = Field(5, ge=0, description="How often to wait out a per-minute quota reply.")
    quota_window: float = Field(60.0, gt=0, description="Length of the quota window in seconds.")
    default_quota: int = Field(500, ge=0, description="Calls per window per API unless set in `quotas`.")
    quotas: dict[str, int] = Field(
        default_factory=dict, description="Per-API calls per window, e.g. {daily = 500}."
    )
    fsync: bool = Field(
        True, description="fsync every Parquet file and its directory before it counts as written."
    )
    history_start: str = Field("20100101", description="First day to download (YYYYMMDD) unless --start.")
    indices: list[str] = Field(
        list(DEFAULT_INDICES),
        description="Indices whose daily levels and weights are downloaded (index_daily, index_weight).",
    )
    minute_stocks: list[str] = Field(
        default_factory=list,
        description="Stocks and ETFs whose minute bars (stk_mins...) are downloaded: ts_codes, "
        '"index:000300.SH" (that index\'s current members, from index_weight) or "all" (every stock '
        "in stock_basic). Empty: none (minute data needs its own subscription and is large).",
    )
    minute_indices: list[str] = Field(
        default_factory=list,
        description="Indices whose minute bars (idx_mins...) are downloaded, e.g. the `indices` list. "
        "Empty: none.",
    )
    minute_freqs: list[str] = Field(
        ["1min"],
        description="Minute frequencies `neo download` fetches for minute_stocks and minute_indices: "
        "1min (stk_mins, idx_mins), 5min (stk_mins_5min...), 15min, 30min, 60min.",
    )
    minute_refresh_days: int = Field(
        2,
        ge=0,
        description="Open days already in the lake that each minute-bar download of later days pulls "
        "again, to pick up late revisions.",
    )
    stock_refresh_days: float = Field(
        7.0,
        ge=0,
        description="Age after which a listed stock's per-stock history (dividend) is pulled again.",
    )
    restatement_periods: int = Field(8, ge=0, description="Recent report periods re-pulled for restatements.")
    refresh_hours: float = Field(
        20.0, ge=0, description="Age after which snapshots and recent periods are downloaded again."
    )
    queue_url: str | None = Field(
        None,
        description="redis://host:port/db for multi-machine queues and quotas; default: SQLite under home.",
    )
    fast_workers: int = Field(4, ge=1, description="Download threads per consumer.")
    slow_workers: int = Field(2, ge=1, description="Write threads per consumer.")
    task_retries: int = Field(2, ge=0, description="Times a failed download task is queued again.")
    task_retry_delay: float = Field(30.0, ge=0, description="Seconds before a failed task runs again.")
    sync_minutes: int = Field(
        10, ge=0, description="Maint queue: sync metadata.db every N minutes, any N (0 = off)."
    )
    publish_delay: float = Field(
        1.0,
        ge=0,
        description="Seconds between a file being written and the sync that lists it in metadata.db "
        "(files written meanwhile share that sync).",
    )
    row_caps: dict[str, int] = Field(
        default_factory=dict, description="Per-API row cap overrides (page size); see `neo datasets`."
    )
    compact_memory_limit: str = Field(
        "1GB", description="DuckDB memory limit of one compaction; larger data spills under the data root."
    )
    compact_threads: int = Field(2, ge=1, description="DuckDB threads of one compaction.")
    compact_file_mb: int = Field(
        256, ge=1, description="Target size of a compacted Parquet file in MB (a partition may have several)."
    )
    compact_after_files: int = Field(
        5,
        ge=0,
        description="Compact a dataset (and vacuum past vacuum_grace) at the end of `neo download` and at "
        "the maint queue's syncs once a partition holds more than this many fresh files (0 = never).",
    )
    compact_cron: str = Field(
        "30 19 * * *",
        description='Maint queue: when to compact and vacuum, a cron line in UTC ("" = never); '
        "the default is 03:30 in Beijing, after the evening downloads.",
    )
    vacuum_grace: str = Field(
        "24h", description="How long superseded files stay for running queries and open connections."
    )
    legacy_tables: dict[str, str] = Field(
        default_factory=dict, description="Legacy DuckDB table per dataset when named differently."
    )

    @field_validator("tushare_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")

    @field_validator("minute_freqs")
    @classmethod
    def _freqs(cls, v: list[str]) -> list[str]:
        if unknown := [f for f in v if f not in MINUTE_FREQS]:
            raise ValueError(f"unknown frequency {unknown[0]!r}; known: {', '.join(MINUTE_FREQS)}")
        return v

    @field_validator("queue_url")
    @classmethod
    def _queue_url(cls, v: str | None) -> str | None:
        try:
            check_url(v)
        except ConfigError as exc:
            raise ValueError(str(exc).removeprefix("queue_url: ")) from None
        return v or None

    @field_validator("vacuum_grace")
    @classmethod
    def _grace(cls, v: str) -> str:
        try:
            parse_duration(v)
        except UsageError as exc:
            raise ValueError(str(exc)) from None
        return v

    @field_validator("compact_memory_limit")
    @classmethod
    def _memory(cls, v: str) -> str:
        memory_bytes(v)
        return v

    @property
    def compact_memory_bytes(self) -> int:
        return memory_bytes(self.compact_memory_limit)

    @field_validator("compact_cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        if not v.strip():
            return v
        from huey import crontab

        fields = v.split()
        if len(fields) != 5:
            raise ValueError("expected 5 cron fields (minute hour day month weekday), or empty")
        try:
            crontab(*fields)
        except ValueError as exc:
            raise ValueError(f"{v!r}: {exc}") from None
        return v

    @field_validator("token")
    @classmethod
    def _token(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and not v.get_secret_value().strip():
            return None
        return v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlWithoutToken(settings_cls, toml_file=config_path()))

    def quota_for(self, api: str) -> int:
        return self.quotas.get(api, DEFAULT_QUOTAS.get(api, self.default_quota))

    def token_value(self) -> str:
        if self.token is None:
            raise ConfigError(
                "TUSHARE_TOKEN is not set: export your Tushare Pro token, "
                "or run `neo demo` to try neo offline on the built-in simulator"
            )
        return self.token.get_secret_value()

    # -- the data root's paths: every module asks here, none joins them by hand -------------------

    @property
    def lake_dir(self) -> Path:
        """parquet/<dataset>/...: the lake (lake/layout.py names what is inside)."""
        return self.home / "parquet"

    @property
    def metadata_db(self) -> Path:
        return self.home / "metadata.db"

    @property
    def state_dir(self) -> Path:
        return self.home / "state"

    @property
    def ledger_path(self) -> Path:
        return self.state_dir / "ledger.sqlite"

    @property
    def queues_path(self) -> Path:
        """The embedded queues (unused with queue_url)."""
        return self.state_dir / "queues.db"

    @property
    def quota_path(self) -> Path:
        """The embedded quota windows (unused with queue_url)."""
        return self.state_dir / "quota.sqlite"

    @property
    def migrate_state(self) -> Path:
        """neo migrate's progress; its lock is beside it (.lock)."""
        return self.state_dir / "migrate.sqlite"

    @property
    def rejected_dir(self) -> Path:
        """rejected/<dataset>/...: replies kept because they could not be stored."""
        return self.home / "rejected"

    @property
    def tmp_dir(self) -> Path:
        """DuckDB's spill space and compaction's."""
        return self.home / "tmp"

    @property
    def report_path(self) -> Path:
        """Where `neo report` writes its page unless told."""
        return self.home / "report.html"


class _TomlWithoutToken(TomlConfigSettingsSource):
    """neo.toml, refusing the token: a file is copied, shared and committed; the environment is not."""

    def __init__(self, settings_cls: type[BaseSettings], toml_file: Path) -> None:
        super().__init__(settings_cls, toml_file=toml_file)
        if any(key.lower() in ("tushare_token", "token") for key in self.toml_data):
            raise ConfigError(
                f"{toml_file} must not hold the Tushare token: remove it from the file and export "
                "TUSHARE_TOKEN in the environment instead (docs/guide.md: Your Tushare token)"
            )


# NEO_* variables read outside Settings.
OTHER_VARIABLES = frozenset({"NEO_CONFIG", "NEO_DEBUG"})


def _unknown_variable() -> str | None:
    """A NEO_* variable that is no setting: a typo there would otherwise be silently ignored."""
    for key in os.environ:
        if key.upper().startswith("NEO_") and key.upper() not in OTHER_VARIABLES:
            name = key[4:].split("__", 1)[0].lower()
            if name not in Settings.model_fields or name == "token":
                return key
    return None


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning any problem into a one-line ConfigError."""
    if (variable := _unknown_variable()) is not None:
        raise ConfigError(f"unknown setting {variable!r} in the environment (settings: docs/guide.md)")
    if "token" in overrides:  # the field is read from TUSHARE_TOKEN; code passes it by alias
        overrides["TUSHARE_TOKEN"] = overrides.pop("token")
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "settings"
        if err["type"] == "extra_forbidden":
            raise ConfigError(f"unknown setting {where!r} (in {config_path()} or NEO_* variables)") from None
        raise ConfigError(f"bad setting {where}: {err['msg'].removeprefix('Value error, ')}") from None
    except SettingsError as exc:  # a NEO_ variable that cannot be parsed, e.g. a list not in JSON
        field = re.search(r'field "(\w+)"', str(exc))
        name = field.group(1) if field else "settings"
        raise ConfigError(
            f"bad setting {name}: a list or table in a NEO_ variable is JSON, "
            f'e.g. NEO_INDICES=\'["000300.SH","000905.SH"]\''
        ) from None
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as exc:  # the file itself
        raise ConfigError(f"cannot read {config_path()}: {first_line(str(exc))}") from None
