"""Can the bot post in a channel? Asked before a subscription points there, so a subscription
never promises announcements that fail with `not_in_channel`.

A member can post; a public channel the bot is not in, it joins (`conversations.join`, scope
`channels:join`); anything else (a private channel it is not in, a refused join, a channel
that does not exist or is archived) is refused with what to do. A token error or a Slack
outage during the check is its own outcome: the caller stores nothing and says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Literal

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

log = logging.getLogger(__name__)

Outcome = Literal[
    "member",  # the bot is in the channel
    "joinable",  # public and not archived: the bot can join it
    "joined",  # it just joined
    "direct",  # a direct message: not checked (that needs im:read), posting there works
    "private",  # private and the bot is not in it
    "not_found",  # Slack does not show it to the bot: deleted, or private without the bot
    "archived",
    "join_refused",
    "not_a_channel",  # a group DM or another conversation the bot cannot be asked about
    "token",  # the bot token was rejected
    "unavailable",  # Slack did not answer usefully (5xx, timeout, connection refused)
]
_CAN_POST: frozenset[str] = frozenset({"member", "joined", "direct"})
TOKEN_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}
)
# What conversations.info on a public or private channel needs; a missing_scope for anything
# else (mpim:read, im:read) means the conversation is not a channel we announce into.
_CHANNEL_SCOPES = frozenset({"channels:read", "groups:read"})


@dataclass(frozen=True)
class ChannelAccess:
    """What the bot may do in one channel; `name` when Slack told us, `error` its reason."""

    channel_id: str
    outcome: Outcome
    name: str | None = None
    error: str | None = None
    # A private channel, DM or group DM: what is read there is not meant for everyone.
    private: bool = False

    @property
    def can_post(self) -> bool:
        """The bot can post there now."""
        return self.outcome in _CAN_POST

    @property
    def needs_join(self) -> bool:
        """The bot is not in the channel but may join it (a public channel)."""
        return self.outcome == "joinable"

    @property
    def ok(self) -> bool:
        """A subscription may point there (after joining when `needs_join`)."""
        return self.can_post or self.needs_join


def _code(text: object) -> str:
    """Slack's error code, kept to the characters error codes use (it goes into replies)."""
    return "".join(c for c in str(text or "") if c.isalnum() or c in "_:.- ")[:80]


def _failure(channel_id: str, exc: Exception, *, joining: bool) -> ChannelAccess:
    """Sort a failed Web API call into an outcome; the token itself never reaches the log."""
    if isinstance(exc, SlackApiError):
        response = exc.response
        status = response.status_code
        error = _code(response.get("error")) if isinstance(response.data, dict) else ""
        if status >= 500 or status == 429 or not error:
            return ChannelAccess(channel_id, "unavailable", error=f"HTTP {status}")
        if error in TOKEN_ERRORS:
            return ChannelAccess(channel_id, "token", error=error)
        if error == "missing_scope":
            needed = _code(response.get("needed"))
            if joining or needed in _CHANNEL_SCOPES:
                return ChannelAccess(channel_id, "token", error=f"missing_scope {needed}".strip())
            return ChannelAccess(channel_id, "not_a_channel", error=error)
        if error in ("channel_not_found", "not_in_channel"):
            return ChannelAccess(channel_id, "not_found", error=error)
        if error == "is_archived":
            return ChannelAccess(channel_id, "archived", error=error)
        if joining:
            return ChannelAccess(channel_id, "join_refused", error=error)
        return ChannelAccess(channel_id, "unavailable", error=error)
    # Connection refused, a timeout, a body that is not JSON: Slack is not answering.
    timed_out = isinstance(exc, TimeoutError) or isinstance(
        getattr(exc, "reason", None), TimeoutError
    )
    reason = "timed out" if timed_out else "no connection"
    if not isinstance(exc, OSError):
        reason = _code(type(exc).__name__)
    return ChannelAccess(channel_id, "unavailable", error=reason)


_ERRORS = (SlackApiError, SlackClientError, OSError, ValueError)


def check_channel(client: WebClient, channel_id: str) -> ChannelAccess:
    """Ask Slack (conversations.info) whether the bot is in `channel_id` or may join it."""
    if channel_id.startswith("D"):
        return ChannelAccess(channel_id, "direct", private=True)
    try:
        info = client.conversations_info(channel=channel_id).get("channel") or {}
    except _ERRORS as exc:
        access = _failure(channel_id, exc, joining=False)
        log.info("conversations.info %s: %s (%s)", channel_id, access.outcome, access.error)
        return access
    name = info.get("name")
    private = bool(info.get("is_private") or info.get("is_im") or info.get("is_mpim"))
    if info.get("is_im"):
        return ChannelAccess(channel_id, "direct", private=True)
    if info.get("is_mpim"):
        return ChannelAccess(channel_id, "not_a_channel", name=name, private=True)
    if info.get("is_archived"):
        return ChannelAccess(channel_id, "archived", name=name, private=private)
    if info.get("is_member"):
        return ChannelAccess(channel_id, "member", name=name, private=private)
    if info.get("is_private"):
        return ChannelAccess(channel_id, "private", name=name, private=True)
    return ChannelAccess(channel_id, "joinable", name=name)


def join_channel(client: WebClient, access: ChannelAccess) -> ChannelAccess:
    """Join the public channel `access` found joinable; other accesses are returned as they are."""
    if not access.needs_join:
        return access
    try:
        client.conversations_join(channel=access.channel_id)
    except _ERRORS as exc:
        failed = _failure(access.channel_id, exc, joining=True)
        log.info("conversations.join %s: %s (%s)", access.channel_id, failed.outcome, failed.error)
        return replace(failed, name=access.name)
    return replace(access, outcome="joined")


class CannotPost(Exception):
    """Raised inside the caller's transaction when joining failed, so nothing is stored."""

    def __init__(self, access: ChannelAccess) -> None:
        super().__init__(access.outcome)
        self.access = access


def join_or_raise(client: WebClient, access: ChannelAccess) -> ChannelAccess:
    """Join the channel when `access` says it is needed; raise CannotPost when Slack refuses."""
    joined = join_channel(client, access)
    if not joined.can_post:
        raise CannotPost(joined)
    return joined


def bot_name(client: WebClient) -> str | None:
    """The bot user's name (auth.test), to name it in plain text; None when Slack won't say."""
    try:
        return str(client.auth_test().get("user") or "") or None
    except _ERRORS:
        return None


def access_problem(access: ChannelAccess, bot: str, channel: str) -> str:
    """Why a subscription cannot point at this channel and what to do, in one or two sentences.

    `bot` and `channel` are how to name them where the text goes (`<@U…>` and `<#C…>` in
    Slack mrkdwn, `@devopsbot` and `#ops` in plain text).
    """
    # No code span around /invite: Slack would not render a <@U…> mention inside one.
    invite = f"invite {bot} to {channel} first (type /invite {bot} in the channel)"
    outcome = access.outcome
    if outcome == "private":
        return f"I'm not in {channel} and can't join a private channel myself: {invite}."
    if outcome == "not_found":
        return (
            f"Slack doesn't show me {channel}: it is private and I'm not in it, or it no longer "
            f"exists. If it is private, {invite}; otherwise pick another channel."
        )
    if outcome == "archived":
        return (
            f"{channel} is archived, so nothing can be posted there: unarchive it and "
            f"{invite}, or pick another channel."
        )
    if outcome == "join_refused":
        return f"Slack didn't let me join {channel} ({access.error}): {invite}."
    if outcome == "not_a_channel":
        return f"I can only announce into channels and direct messages with me; {invite}."
    if outcome == "token":
        if (access.error or "").startswith("missing_scope"):
            needed = (access.error or "").removeprefix("missing_scope").strip() or "a scope"
            return (
                f"The app lacks the {needed} permission: reinstall it from app_manifest.yml, "
                f"or {invite}."
            )
        return (
            f"Slack rejected the bot token ({access.error}) while I checked {channel}: fix "
            "SLACK_BOT_TOKEN (your app's OAuth & Permissions page) and try again."
        )
    if outcome == "unavailable":
        return (
            f"I couldn't check that I can post in {channel}: Slack didn't answer "
            f"({access.error}). Try again in a minute."
        )
    return f"I can't post in {channel}: {invite}."


def slack_names(access: ChannelAccess, bot_user_id: str | None) -> tuple[str, str]:
    """(bot, channel) as Slack mrkdwn renders them: a mention and a channel link."""
    bot = f"<@{bot_user_id}>" if bot_user_id else "@devopsbot"
    return bot, f"<#{access.channel_id}>"


def plain_names(
    access: ChannelAccess, bot_name: str | None, unnamed: str | None = None
) -> tuple[str, str]:
    """(bot, channel) for plain text: `@name` and `#channel (C…)`; a channel Slack did not
    name is `unnamed` when given (a modal: "this channel"), else its id."""
    bot = f"@{bot_name or 'devopsbot'}"
    if access.name:
        return (
            bot,
            f"#{access.name} ({access.channel_id})" if unnamed is None else f"#{access.name}",
        )
    return bot, unnamed or access.channel_id
