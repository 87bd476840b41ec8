"""One typed settings object, read from the environment and an optional `.env` file."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_database_url() -> str:
    """A SQLite file in the user's data directory (XDG), created on first use."""
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return f"sqlite:///{base / 'devopsbot' / 'devopsbot.db'}"


# Seconds between two syncs of DEVOPSBOT_NOTES_PATH: re-hashing a folder more often than every
# few seconds is waste, and a day is the longest a team would wait for an edit to show.
NOTES_SYNC_INTERVAL_RANGE = (5, 86400)


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable to fix."""


class Settings(BaseSettings):
    """Every knob of the bot. Environment names are the field names, upper-cased."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"

    devopsbot_database_url: str = Field(default_factory=default_database_url)
    devopsbot_allow_private_urls: bool = False
    devopsbot_sample_data: bool = True

    devopsbot_http_timeout: float = Field(default=10.0, gt=0, le=300)
    devopsbot_max_feed_bytes: int = Field(default=5_000_000, gt=0)
    devopsbot_poll_interval: int = Field(default=900, ge=60, le=7 * 86400)
    devopsbot_poll_workers: int = Field(default=8, ge=1, le=64)
    devopsbot_port: int = Field(default=3000, ge=1, le=65535)
    devopsbot_admins: str = ""
    devopsbot_log_level: str = "INFO"
    # Feed subscriptions and announcements (issue 3).
    devopsbot_pause_after: int = Field(default=86400, ge=60)  # seconds of failures before pausing
    devopsbot_post_interval: float = Field(default=1.0, ge=0, le=60)  # per-channel pacing, seconds
    devopsbot_tick_seconds: int = Field(default=60, ge=5, le=3600)  # scheduler tick
    # The Slack app (issue 4): where `devopsbot run` serves /slack/events and /healthz.
    devopsbot_host: str = "0.0.0.0"
    # Notes kept in sync by the scheduler (issue 7): files or folders, ":"-separated.
    devopsbot_notes_path: str = ""
    devopsbot_notes_sync_interval: int = 60  # seconds between two syncs
    devopsbot_max_note_bytes: int = Field(default=2_000_000, gt=0)  # per notes file
    # Digests and day threads (issue 9.6): the zone a schedule without one is read in.
    devopsbot_timezone: str = "UTC"

    @field_validator("slack_api_url")
    @classmethod
    def _api_url_has_scheme(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value if value.endswith("/") else value + "/"

    @field_validator("devopsbot_database_url")
    @classmethod
    def _database_url_known(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        if value.startswith("postgresql://"):
            # psycopg 3 is the driver we ship; plain postgresql:// would pick psycopg2.
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value

    @field_validator("devopsbot_timezone")
    @classmethod
    def _timezone_known(cls, value: str) -> str:
        from bot.schedules import ScheduleError, zone

        value = value.strip() or "UTC"
        try:
            zone(value)
        except ScheduleError:
            raise ValueError(
                "must be an IANA time zone name such as Europe/Berlin or UTC"
            ) from None
        return value

    @field_validator("devopsbot_log_level")
    @classmethod
    def _log_level_known(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
        return upper

    @field_validator("devopsbot_notes_sync_interval")
    @classmethod
    def _notes_sync_interval_in_range(cls, value: int) -> int:
        low, high = NOTES_SYNC_INTERVAL_RANGE
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high} seconds")
        return value

    @cached_property
    def notes_paths(self) -> tuple[Path, ...]:
        """DEVOPSBOT_NOTES_PATH as paths (`~` expanded, empty entries skipped)."""
        parts = (p.strip() for p in self.devopsbot_notes_path.split(":"))
        return tuple(Path(p).expanduser() for p in parts if p)

    @cached_property
    def admins(self) -> frozenset[str]:
        """Slack user ids allowed to manage feeds; empty means everyone."""
        return frozenset(a.strip() for a in self.devopsbot_admins.split(",") if a.strip())


def _is_secret(name: str) -> bool:
    return "TOKEN" in name or "SECRET" in name


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning a validation error into one readable line per bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = str(err["loc"][0]).upper() if err["loc"] else "settings"
            shown = "" if _is_secret(name) else f" (got {err.get('input')!r})"
            lines.append(f"{name}: {err['msg']}{shown}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None
