"""Feed notices (paused, gone) as Slack mrkdwn, rendered from the plain facts the feed
pipeline stored; feed text is escaped and shown literally."""

from __future__ import annotations

import json

from bot.slack.text import escape, feed_mrkdwn


def render_notice(stored: str) -> str:
    """The message for a stored notice; rows stored before notices were JSON are mrkdwn already."""
    try:
        facts = json.loads(stored)
    except ValueError:
        return stored
    if not isinstance(facts, dict) or "kind" not in facts:
        return stored
    name = feed_mrkdwn(str(facts.get("feed") or facts.get("url") or "a feed"))
    url = escape(str(facts.get("url") or ""))
    if facts["kind"] == "gone":
        return (
            f":no_entry: *{name}* is gone: {url} answered HTTP 410, so it is no longer "
            f"checked. Remove it with `/devops unsubscribe {url}`, or subscribe to its new address."
        )
    return (
        f":pause_button: *{name}* is no longer being checked: it has failed since "
        f"{escape(str(facts.get('since', '?')))} UTC ({facts.get('attempts', '?')} attempts). "
        f"Last error: {escape(str(facts.get('error', '')))}\n"
        f"Once the feed works again, resume it with `/devops resume {url}` "
        f"or `devopsbot feeds resume {url}`."
    )
