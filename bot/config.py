"""One typed settings object, read from the environment and an optional `.env` file.

The fields are a msgspec Struct: msgspec turns the strings the environment holds into their
types and checks their bounds, python-dotenv reads `.env`. Both import in a few milliseconds;
pydantic-settings, used before, took a fifth of a cold `devopsbot ask` to import.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import msgspec


def default_database_url() -> str:
    """A SQLite file in the user's data directory (XDG), created on first use."""
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return f"sqlite:///{base / 'devopsbot' / 'devopsbot.db'}"


# Seconds between two syncs of DEVOPSBOT_NOTES_PATH: re-hashing a folder more often than every
# few seconds is waste, and a day is the longest a team would wait for an edit to show.
NOTES_SYNC_INTERVAL_RANGE = (5, 86400)


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable to fix."""


class Secret:
    """A token or signing secret: its value only on request, never in a repr, log or error."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        """The secret itself, for the one call that needs it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def _between(low: float, high: float) -> msgspec.Meta:
    return msgspec.Meta(ge=low, le=high)


class Settings(msgspec.Struct, kw_only=True):
    """Every knob of the bot. Environment names are the field names, upper-cased.

    Build it with `load_settings` (which converts and checks every value), not directly.
    """

    slack_bot_token: Secret | None = None
    slack_app_token: Secret | None = None
    slack_signing_secret: Secret | None = None
    slack_api_url: str = "https://slack.com/api/"

    devopsbot_database_url: str = msgspec.field(default_factory=default_database_url)
    devopsbot_allow_private_urls: bool = False
    devopsbot_sample_data: bool = True

    devopsbot_http_timeout: Annotated[float, msgspec.Meta(gt=0, le=300)] = 10.0
    devopsbot_max_feed_bytes: Annotated[int, msgspec.Meta(gt=0)] = 5_000_000
    devopsbot_poll_interval: Annotated[int, _between(60, 7 * 86400)] = 900
    devopsbot_poll_workers: Annotated[int, _between(1, 64)] = 8
    devopsbot_port: Annotated[int, _between(1, 65535)] = 3000
    devopsbot_admins: str = ""
    devopsbot_log_level: str = "INFO"
    # Feed subscriptions and announcements (issue 3).
    devopsbot_pause_after: Annotated[int, msgspec.Meta(ge=60)] = 86400  # seconds of failures
    devopsbot_post_interval: Annotated[float, _between(0, 60)] = 1.0  # per-channel pacing, s
    devopsbot_tick_seconds: Annotated[int, _between(5, 3600)] = 60  # scheduler tick
    # The Slack app (issue 4): where `devopsbot run` serves /slack/events and /healthz.
    devopsbot_host: str = "0.0.0.0"
    # Notes kept in sync by the scheduler (issue 7): files or folders, ":"-separated.
    devopsbot_notes_path: str = ""
    devopsbot_notes_sync_interval: int = 60  # seconds between two syncs
    devopsbot_max_note_bytes: Annotated[int, msgspec.Meta(gt=0)] = 2_000_000  # per notes file
    # Digests and day threads (issue 9.6): the zone a schedule without one is read in.
    devopsbot_timezone: str = "UTC"

    @property
    def notes_paths(self) -> tuple[Path, ...]:
        """DEVOPSBOT_NOTES_PATH as paths (`~` expanded, empty entries skipped)."""
        parts = (p.strip() for p in self.devopsbot_notes_path.split(":"))
        return tuple(Path(p).expanduser() for p in parts if p)

    @property
    def admins(self) -> frozenset[str]:
        """Slack user ids allowed to manage feeds; empty means everyone."""
        return frozenset(a.strip() for a in self.devopsbot_admins.split(",") if a.strip())


# -- checks beyond a type and its bounds: each returns the value as stored, or raises ValueError


def _api_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return value if value.endswith("/") else value + "/"


def _database_url(value: str) -> str:
    if not value.startswith(("sqlite", "postgresql")):
        raise ValueError("must be a sqlite:/// or postgresql:// URL")
    if value.startswith("postgresql://"):
        # psycopg 3 is the driver we ship; plain postgresql:// would pick psycopg2.
        value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
    return value


def _timezone(value: str) -> str:
    from bot.schedules import ScheduleError, zone

    value = value.strip() or "UTC"
    try:
        zone(value)
    except ScheduleError:
        raise ValueError("must be an IANA time zone name such as Europe/Berlin or UTC") from None
    return value


def _log_level(value: str) -> str:
    upper = value.upper()
    if upper not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
    return upper


def _notes_sync_interval(value: int) -> int:
    low, high = NOTES_SYNC_INTERVAL_RANGE
    if not low <= value <= high:
        raise ValueError(f"must be between {low} and {high} seconds")
    return value


CHECKS: dict[str, Callable[[Any], Any]] = {
    "slack_api_url": _api_url,
    "devopsbot_database_url": _database_url,
    "devopsbot_timezone": _timezone,
    "devopsbot_log_level": _log_level,
    "devopsbot_notes_sync_interval": _notes_sync_interval,
}


def _as_secret(kind: type, value: Any) -> Any:
    if kind is Secret and isinstance(value, str | Secret):
        return value if isinstance(value, Secret) else Secret(value)
    raise NotImplementedError


_KINDS = {"int": "a whole number", "float": "a number", "str": "text"}
# msgspec's wording: "Expected `int` >= 60", "Expected `float`, got `str`"
_EXPECTED = re.compile(r"Expected `(\w+)`(?: ([<>]=? \S+))?")


# The spellings of a switch pydantic-settings accepted, so that existing .env files still load.
_SWITCHES = {
    **dict.fromkeys(("1", "true", "t", "yes", "y", "on"), True),
    **dict.fromkeys(("0", "false", "f", "no", "n", "off"), False),
}


def _problem(exc: msgspec.ValidationError, kind: Any) -> str:
    """What the value must be, in the README's words rather than msgspec's type names."""
    if kind is bool:
        return "must be true or false (or yes / no, on / off, 1 / 0)"
    found = _EXPECTED.match(str(exc))
    if found is None:
        return str(exc)
    noun = _KINDS.get(found.group(1), found.group(1))
    return f"must be {noun}" + (f" {found.group(2)}" if found.group(2) else "")


def _is_secret(name: str) -> bool:
    return "TOKEN" in name or "SECRET" in name


def _sources(env_file: str | Path | None) -> dict[str, Any]:
    """The raw values: `.env` first, the environment over it; names matched case-blind."""
    from dotenv import dotenv_values

    raw: dict[str, Any] = {}
    if env_file is not None and Path(env_file).is_file():
        try:
            values = dotenv_values(env_file, encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{env_file}: cannot be read as UTF-8 text ({exc})") from None
        raw.update((k.lower(), v) for k, v in values.items() if v is not None)
    raw.update((k.lower(), v) for k, v in os.environ.items())
    return raw


def load_settings(env_file: str | Path | None = ".env", **overrides: object) -> Settings:
    """Read settings (`overrides` over the environment over `env_file`), checking every value;
    all bad variables are reported at once, one readable line each (secrets never shown)."""
    raw = _sources(env_file)
    raw.update(overrides)
    values: dict[str, Any] = {}
    lines = []
    for field in msgspec.structs.fields(Settings):
        if field.name not in raw:
            continue
        given = raw[field.name]
        name = field.name.upper()
        shown = "" if _is_secret(name) else f" (got {given!r})"
        if field.type is bool and isinstance(given, str):
            given = _SWITCHES.get(given.strip().lower(), given)
        try:
            value = msgspec.convert(given, field.type, strict=False, dec_hook=_as_secret)
            check = CHECKS.get(field.name)
            values[field.name] = check(value) if check is not None else value
        except msgspec.ValidationError as exc:  # a wrong type or out of bounds
            lines.append(f"{name}: {_problem(exc, field.type)}{shown}")
        except ValueError as exc:  # one of CHECKS
            lines.append(f"{name}: {exc}{shown}")
    if lines:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines))
    return Settings(**values)
