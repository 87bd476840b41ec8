"""Checking the Slack credentials at start, with messages that say what to set and where to find it.

Messages name variables and the Slack settings pages, never the values themselves.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Literal

from bot.config import ConfigError, Settings

APPS_PAGE = "https://api.slack.com/apps → your app"
_HEX_OR_WORD = re.compile(r"^[A-Za-z0-9]+$")
# Anything that looks like a Slack token or a long secret, for the log redaction filter.
_SECRET_PATTERN = re.compile(r"\b(?:xox[abposr]|xapp)-[A-Za-z0-9-]+")

Mode = Literal["socket", "http"]


@dataclass(frozen=True)
class Credentials:
    """Validated credentials; `mode` is socket when an app-level token is set."""

    mode: Mode
    bot_token: str
    app_token: str | None
    signing_secret: str | None


def _value(secret: object) -> str:
    getter = getattr(secret, "get_secret_value", None)
    return (getter() if getter else str(secret or "")).strip()


def check_credentials(settings: Settings) -> Credentials:
    """Validate the tokens for the mode they select; raise ConfigError listing every problem."""
    bot = _value(settings.slack_bot_token)
    app = _value(settings.slack_app_token)
    secret = _value(settings.slack_signing_secret)
    problems: list[str] = []
    if not bot:
        problems.append(
            "SLACK_BOT_TOKEN is not set: copy the Bot User OAuth Token (xoxb-…) from "
            f"{APPS_PAGE} → OAuth & Permissions (install the app to your workspace first)."
        )
    elif not bot.startswith("xoxb-"):
        problems.append(
            "SLACK_BOT_TOKEN must be a bot token starting with xoxb- (a user token xoxp- or an "
            f"app-level token xapp- will not work): see {APPS_PAGE} → OAuth & Permissions."
        )
    mode: Mode = "socket" if app else "http"
    if app and not app.startswith("xapp-"):
        problems.append(
            "SLACK_APP_TOKEN must be an app-level token starting with xapp- with the "
            f"connections:write scope: create one at {APPS_PAGE} → Basic Information → "
            "App-Level Tokens (or unset SLACK_APP_TOKEN to run in HTTP mode)."
        )
    if mode == "http":
        if not secret:
            problems.append(
                "SLACK_SIGNING_SECRET is not set (needed in HTTP mode to verify requests): copy "
                f"the Signing Secret from {APPS_PAGE} → Basic Information → App Credentials. "
                "Or set SLACK_APP_TOKEN (xapp-…) to use Socket Mode instead."
            )
        elif not _HEX_OR_WORD.match(secret):
            problems.append(
                "SLACK_SIGNING_SECRET looks malformed (it is a string of letters and digits): "
                f"copy it again from {APPS_PAGE} → Basic Information → App Credentials."
            )
    if problems:
        raise ConfigError("cannot start the Slack app:\n  " + "\n  ".join(problems))
    return Credentials(mode, bot, app or None, secret or None)


class RedactSecrets(logging.Filter):
    """Masks anything shaped like a Slack token in log records, whatever logged it."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if s and len(s) >= 8)

    def _clean(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "(redacted)")
        return _SECRET_PATTERN.sub("(redacted)", text)

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the message in place; never drops a record."""
        message = record.getMessage()
        cleaned = self._clean(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def install_redaction(credentials: Credentials) -> None:
    """Attach the redaction filter to every root handler (bolt and slack_sdk log through it)."""
    redact = RedactSecrets(
        tuple(
            s
            for s in (credentials.bot_token, credentials.app_token, credentials.signing_secret)
            if s
        )
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(redact)
