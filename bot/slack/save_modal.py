"""Opening the "Save to DevOps notes" modal, prefilled from a message or a whole thread.

Any flow may call `open_save_modal` with a prefill from `message_prefill` (a message shortcut)
or `thread_prefill` (a thread, e.g. the "Save this answer" button); nothing is stored here.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.knowledge.saved import TEXT_MAX, title_from
from bot.slack.channel_access import check_channel
from bot.slack.save_blocks import Prefill, save_modal

log = logging.getLogger(__name__)

REPLIES_PAGE = 200
REPLIES_PAGES = 10  # 2,000 messages: far more than the text field holds


def conversation_facts(client: WebClient, channel_id: str, name: str = "") -> tuple[str, bool]:
    """(channel name, private?) for a conversation. DMs, and conversations the bot cannot see,
    count as private: their messages are saved only with the saver's confirmation."""
    access = check_channel(client, channel_id)
    if access.outcome == "direct":
        return "", True  # a DM has no name worth showing in answers
    if access.error is not None:  # Slack did not say: treated as private
        return (name if name not in ("privategroup", "directmessage") else ""), True
    return str(access.name or name or ""), access.private


def _author(message: dict[str, Any]) -> str | None:
    user = message.get("user")
    return str(user) if isinstance(user, str) and user else None


def thread_text(messages: list[dict[str, Any]]) -> tuple[str, bool]:
    """The messages' texts, one line each, within the text field (and whether it was cut).

    One line each, not one paragraph: a question and its answers then make one chunk, which
    answers a question better than the question alone would."""
    parts = [str(m.get("text") or "").strip() for m in messages]
    text = "\n".join(p for p in parts if p)
    if len(text) <= TEXT_MAX:
        return text, False
    cut = text[: TEXT_MAX - 1]
    newline = cut.rfind("\n")
    if newline > TEXT_MAX // 2:  # end on a whole line when one is near
        cut = cut[:newline]
    return cut.rstrip() + "…", True


def _replies(client: WebClient, channel_id: str, ts: str) -> list[dict[str, Any]] | None:
    """Every message of the thread under `ts` (the parent first), or None when unreadable."""
    messages: list[dict[str, Any]] = []
    cursor = None
    try:
        for _ in range(REPLIES_PAGES):
            page = client.conversations_replies(
                channel=channel_id, ts=ts, limit=REPLIES_PAGE, cursor=cursor
            )
            messages.extend(page.get("messages") or [])
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not page.get("has_more") or not cursor:
                break
    except SlackApiError as exc:
        log.info("conversations.replies failed (%s)", exc.response.get("error"))
        return None
    return messages


def _prefill(
    messages: list[dict[str, Any]],
    *,
    channel_id: str,
    channel_name: str,
    private: bool,
    team_id: str | None,
    partial: bool = False,
    bot_user_id: str | None = None,
) -> Prefill:
    # The bot's own replies ("I don't know…", an answer it gave) are not the team's knowledge.
    kept = messages[:1] + [
        m for m in messages[1:] if not bot_user_id or m.get("user") != bot_user_id
    ]
    text, truncated = thread_text(kept)
    first = messages[0] if messages else {}
    return Prefill(
        title=title_from(str(first.get("text") or "")),
        section=channel_name,
        text=text,
        channel_id=channel_id,
        channel_name=channel_name,
        message_ts=str(first.get("ts")) if first.get("ts") else None,
        author_id=_author(first),
        team_id=team_id,
        private=private,
        truncated=truncated,
        partial=partial,
    )


def message_prefill(
    client: WebClient,
    *,
    channel_id: str,
    channel_name: str,
    team_id: str | None,
    message: dict[str, Any],
    bot_user_id: str | None = None,
) -> Prefill:
    """The modal for a message shortcut: the message, or the whole thread (conversations.replies)
    when it was invoked on a thread's parent; the bot's own replies are left out."""
    name, private = conversation_facts(client, channel_id, channel_name)
    ts = str(message.get("ts") or "")
    is_parent = bool(message.get("reply_count")) or (
        bool(ts) and str(message.get("thread_ts") or "") == ts
    )
    messages = [message]
    partial = False
    if is_parent:
        thread = _replies(client, channel_id, ts)
        if thread:
            messages = thread
        else:
            partial = True  # the message itself is in the payload: save at least that
    return _prefill(
        messages,
        channel_id=channel_id,
        channel_name=name,
        private=private,
        team_id=team_id,
        partial=partial,
        bot_user_id=bot_user_id,
    )


def thread_prefill(
    client: WebClient,
    *,
    channel_id: str,
    thread_ts: str,
    team_id: str | None,
    bot_user_id: str | None = None,
) -> Prefill | None:
    """The modal for a whole thread read with conversations.replies (the bot's own replies left
    out); None when unreadable."""
    name, private = conversation_facts(client, channel_id)
    thread = _replies(client, channel_id, thread_ts)
    if not thread:
        return None
    return _prefill(
        thread,
        channel_id=channel_id,
        channel_name=name,
        private=private,
        team_id=team_id,
        bot_user_id=bot_user_id,
    )


def open_save_modal(client: WebClient, trigger_id: str, prefill: Prefill) -> bool:
    """Open the save modal (trigger ids expire after 3 seconds); False when Slack refused."""
    try:
        client.views_open(trigger_id=trigger_id, view=save_modal(prefill))
    except SlackApiError as exc:
        log.warning("views.open for the save modal failed (%s)", exc.response.get("error"))
        return False
    return True
