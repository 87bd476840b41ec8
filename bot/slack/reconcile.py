"""Was it posted after all? Finding an announcement in its channel by the metadata it carries.

Every announcement is tagged with Slack message metadata naming its outbox row. When a try's
outcome is unknown (Slack did not answer in time, the connection dropped, the process died
before marking the row), the announcer looks for that tag in the channel's recent history
before posting again. It needs `channels:history` / `groups:history`; without them it cannot
look, and the post is sent again (the one place a duplicate remains, stated in the README).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.slack_errors import error_code, is_slack_side

log = logging.getLogger(__name__)

EVENT_TYPE = "devopsbot_delivery"
# How far before the first claim to look: clock skew between this host and Slack.
LOOK_BEHIND = timedelta(minutes=5)
PAGE = 200
MAX_PAGES = 10  # 2,000 messages since the first try; past that, post rather than search on
# What conversations.history answers a token that may not look (the README names them); any
# other error that is not Slack's own trouble is treated alike.
CANNOT_LOOK = {"missing_scope", "not_allowed_token_type", "not_in_channel"}


def delivery_key(kind: str, row_id: int) -> str:
    """The tag of one outbox row: "article:12" or "notice:3"."""
    return f"{kind}:{row_id}"


def delivery_metadata(kind: str, row_id: int) -> dict[str, Any]:
    """The `metadata` argument of chat.postMessage that tags an announcement with its row."""
    return {"event_type": EVENT_TYPE, "event_payload": {"delivery": delivery_key(kind, row_id)}}


@dataclass(frozen=True)
class Found:
    """The message is in the channel: the row is posted, with this ts."""

    ts: str


@dataclass(frozen=True)
class NotThere:
    """The channel's history was read and the message is not in it: post it."""


@dataclass(frozen=True)
class CannotLook:
    """The token may not read the channel's history (`error`): post it, maybe a second time."""

    error: str


Check = Found | NotThere | CannotLook


def _tagged(message: dict[str, Any], key: str) -> bool:
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    return metadata.get("event_type") == EVENT_TYPE and payload.get("delivery") == key


def find_posted(client: WebClient, channel: str, key: str, since: datetime) -> Check:
    """Look for the message tagged `key` in `channel`, posted after `since` (less LOOK_BEHIND).

    Raises what conversations.history raised when it is Slack's own trouble (rate limits, 5xx,
    timeouts, no connection): the caller retries later, since posting now could post twice.
    """
    oldest = f"{(since - LOOK_BEHIND).timestamp():.6f}"
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        try:
            page = client.conversations_history(
                channel=channel,
                oldest=oldest,
                limit=PAGE,
                include_all_metadata=True,
                cursor=cursor,
            )
        except SlackApiError as exc:
            if is_slack_side(exc.response):
                raise
            return CannotLook(error_code(exc.response) or f"HTTP {exc.response.status_code}")
        for message in page.get("messages") or []:
            if _tagged(message, key):
                return Found(str(message["ts"]))
        cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
        if not page.get("has_more") or not cursor:
            return NotThere()
    log.warning(
        "%s has more than %d messages since the post %s was first tried; posting it without "
        "looking further",
        channel,
        PAGE * MAX_PAGES,
        key,
    )
    return NotThere()
