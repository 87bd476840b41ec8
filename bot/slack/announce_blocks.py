"""Block Kit for a feed announcement: a pure function from an article to blocks + fallback text.

Everything that came from a feed is literal text: plain_text elements where Block Kit allows
(feed, author, excerpt), else escaped mrkdwn with formatting neutralized (`feed_mrkdwn`, `link`),
so a title such as `<!channel> *win*` is shown as written and pings nobody. Control and bidi
characters are removed and every field is bounded, also for articles stored before the parser
cleaned its text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.knowledge.articles import excerpt as excerpt_text
from bot.plaintext import stored_line
from bot.slack.text import feed_mrkdwn, link, truncate

EXCERPT_CHARS = 300
TITLE_CHARS = 250
FEED_CHARS = 150
AUTHOR_CHARS = 100
SECTION_LIMIT = 3000
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class ArticleView:
    """The article fields an announcement shows (plain text; nothing escaped yet)."""

    title: str
    url: str | None
    feed_title: str
    author: str | None = None
    published_at: datetime | None = None
    summary: str = ""
    text: str = ""


@dataclass(frozen=True)
class Announcement:
    """What chat.postMessage gets: blocks and the notification/fallback text (and the thread
    it replies in, for a day thread's entries)."""

    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None


def excerpt(summary: str, text: str, title: str, limit: int = EXCERPT_CHARS) -> str:
    """A plain-text excerpt of at most `limit` characters, cut at a word, never repeating
    the title alone."""
    for candidate in (summary, text):
        flat = _SPACE.sub(" ", candidate or "").strip()
        if flat and flat.casefold() != title.strip().casefold():
            return excerpt_text(flat, limit)
    return ""


def _date(value: datetime) -> str:
    """A Slack date token: shown in the reader's time zone, with a UTC fallback."""
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    fallback = value.astimezone(UTC).strftime("%Y-%m-%d")
    return f"<!date^{int(value.timestamp())}^{{date_short_pretty}}|{fallback}>"


def _plain(text: str) -> dict[str, Any]:
    # No emoji conversion either: a feed's `:rotating_light:` is shown as typed.
    return {"type": "plain_text", "text": truncate(text, SECTION_LIMIT), "emoji": False}


def announcement(article: ArticleView) -> Announcement:
    """Linked title, feed name, author and date when known, a short excerpt, fallback text."""
    title = stored_line(article.title, TITLE_CHARS) or "(untitled)"
    feed = stored_line(article.feed_title, FEED_CHARS) or "a feed"
    headline = f"*{link(article.url, title)}*"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": headline, "verbatim": True}}
    ]
    meta = [feed]
    author = stored_line(article.author, AUTHOR_CHARS)
    if author:
        meta.append(author)
    elements = [_plain(" · ".join(meta))]
    if article.published_at is not None:
        elements.append({"type": "mrkdwn", "text": _date(article.published_at)})
    blocks.append({"type": "context", "elements": elements})
    body = excerpt(article.summary, article.text, title)
    if body:
        blocks.append({"type": "section", "text": _plain(body)})
    fallback = f"New in {feed_mrkdwn(feed)}: {link(article.url, title)}"
    return Announcement(text=fallback, blocks=blocks)


def notice(text: str) -> Announcement:
    """A bot message about a feed (already escaped mrkdwn) as one section."""
    return Announcement(
        text=text,
        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, 3000)}}],
    )
