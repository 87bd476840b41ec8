"""Which message events carry a person's words: what the bot answers, and the thread replies it
may offer to save. Bots (the bot itself included), edits, deletions and joins do not."""

from __future__ import annotations

from typing import Any

_HUMAN_SUBTYPES = frozenset({None, "file_share", "thread_broadcast"})


def human_author(event: dict[str, Any], bot_user_id: str | None) -> str | None:
    """The user id of the person who wrote this message event, or None when no person did."""
    if event.get("bot_id") or event.get("bot_profile"):
        return None
    if event.get("subtype") not in _HUMAN_SUBTYPES:
        return None
    user = event.get("user")
    if not user or user == bot_user_id:
        return None
    return str(user)
