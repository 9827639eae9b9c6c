"""Settings from the environment and command-line flags, validated before anything runs.

Every variable has a matching flag (``HEARTBEAT_TIMEZONE`` ↔ ``--timezone``);
a flag wins over the variable. A bad value stops the command with one line
that names the variable, the value given and what is accepted.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from heartbeat_mcp.database import normalize_url, redact
from heartbeat_mcp.policy import QuietHours, RepeatIntervals

ENV_PREFIX = "HEARTBEAT_"


def default_data_dir() -> Path:
    """Where the embedded database lives when nothing else is configured."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "heartbeat-mcp"


def default_database_url() -> str:
    return f"sqlite:///{default_data_dir() / 'heartbeat.db'}"


@dataclass(frozen=True)
class SettingSpec:
    field: str
    accepted: str
    secret: bool = False
    # Secrets are read from the environment only: a flag would show in `ps`.
    has_flag: bool = True

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.field.upper()

    @property
    def flag(self) -> str:
        return "--" + self.field.replace("_", "-")


SPECS: tuple[SettingSpec, ...] = (
    SettingSpec("database_url", "an sqlite:///path or postgresql://user@host/db URL that can be reached", secret=True),
    SettingSpec("enabled", "true or false"),
    SettingSpec("interval_seconds", "a whole number of seconds from 10 to 604800"),
    SettingSpec("log_level", "DEBUG, INFO, WARNING or ERROR"),
    SettingSpec("notifications_enabled", "true or false"),
    SettingSpec("timezone", "an IANA time zone name such as America/New_York or UTC"),
    SettingSpec("checklist", "the path of an existing HEARTBEAT.md file"),
    SettingSpec("agent_id", "a positive whole number (one agent's id), or empty for every agent"),
    SettingSpec("http_token", "a bearer token of at least 16 characters", secret=True, has_flag=False),
    SettingSpec("quiet_hours", "a daily window like 21:00-07:00 in HEARTBEAT_TIMEZONE, or empty for none"),
    SettingSpec("repeat_interval", "how long before an unacknowledged item is told again, like '4 hours', "
                "with optional per-priority values like '4h, urgent=1h, low=never'"),
    SettingSpec("notify_cycle_complete", "true or false"),
    SettingSpec("webhook_url", "an http:// or https:// URL", secret=True, has_flag=False),
)
SPECS_BY_FIELD = {spec.field: spec for spec in SPECS}


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    database_url: str = ""
    enabled: bool = True
    interval_seconds: int = 300
    log_level: str = "INFO"
    notifications_enabled: bool = True
    timezone: str = "UTC"
    checklist: Path | None = None
    agent_id: int | None = None
    http_token: SecretStr | None = None
    quiet_hours: QuietHours | None = None
    repeat_interval: RepeatIntervals = Field(default_factory=lambda: RepeatIntervals.parse("4 hours"))
    notify_cycle_complete: bool = False
    webhook_url: SecretStr | None = None

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        value = value.strip() or default_database_url()
        normalize_url(value)
        return value

    @field_validator("interval_seconds")
    @classmethod
    def _interval(cls, value: int) -> int:
        if not 10 <= value <= 604800:
            raise ValueError("out of range")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level(cls, value: Any) -> str:
        level = str(value).strip().upper()
        if level == "WARN":
            level = "WARNING"
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError("unknown level")
        return level

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("unknown time zone") from None
        return value

    @field_validator("checklist")
    @classmethod
    def _checklist(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError("no such file")
        return value

    @field_validator("agent_id", mode="before")
    @classmethod
    def _agent_id(cls, value: Any) -> Any:
        if value in ("", None):
            return None
        if int(value) < 1:
            raise ValueError("not positive")
        return value

    @field_validator("http_token", mode="before")
    @classmethod
    def _http_token(cls, value: Any) -> Any:
        if value in ("", None):
            return None
        if len(str(value)) < 16:
            raise ValueError("too short")
        return value

    @field_validator("quiet_hours", mode="before")
    @classmethod
    def _quiet_hours(cls, value: Any) -> Any:
        if value in ("", None) or isinstance(value, QuietHours):
            return value or None
        return QuietHours.parse(str(value))

    @field_validator("repeat_interval", mode="before")
    @classmethod
    def _repeat_interval(cls, value: Any) -> Any:
        return value if isinstance(value, RepeatIntervals) else RepeatIntervals.parse(str(value))

    @field_validator("webhook_url", mode="before")
    @classmethod
    def _webhook_url(cls, value: Any) -> Any:
        if value in ("", None):
            return None
        url = str(value.get_secret_value() if isinstance(value, SecretStr) else value).strip()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("not an http(s) URL")
        return url

    @property
    def safe_database_url(self) -> str:
        return redact(self.database_url)


class SettingsError(Exception):
    """One bad setting, said in one line."""

    def __init__(self, spec: SettingSpec, given: Any, source: str) -> None:
        if spec.field == "database_url":
            shown = repr(redact(str(given)))
        else:
            shown = "(hidden)" if spec.secret else repr(given)
        super().__init__(f"{source}={shown} is not valid: expected {spec.accepted}.")
        self.spec = spec


def load_settings(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read HEARTBEAT_* variables, let flags override them, validate everything.

    `overrides` holds flag values by field name (None means "not given").
    """
    environ = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for spec in SPECS:
        if spec.env in environ:
            raw[spec.field] = environ[spec.env]
            sources[spec.field] = spec.env
    for field, value in (overrides or {}).items():
        if value is not None:
            raw[field] = value
            sources[field] = SPECS_BY_FIELD[field].flag
    try:
        return Settings(**raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0])
        spec = SPECS_BY_FIELD[field]
        raise SettingsError(spec, raw.get(field), sources.get(field, spec.env)) from None
