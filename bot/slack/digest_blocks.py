"""Block Kit for digests and day threads: pure functions from entries to blocks + fallback text.

Feed text is escaped exactly as in single announcements (bot.slack.announce_blocks): titles
are literal link labels (`link`), the feed's name literal mrkdwn. A digest message stays
within Block Kit's limits (≤ 50 blocks, ≤ 3,000 characters per section) and a size Slack
shows without truncating; a digest too long for one message is split into "(1/2)" parts, and
past MAX_PARTS the last part ends with "… and N more".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from bot.plaintext import stored_line
from bot.slack.announce_blocks import FEED_CHARS, SECTION_LIMIT, TITLE_CHARS, Announcement
from bot.slack.text import feed_mrkdwn, link

MAX_BLOCKS = 50
# Entry text per message: far below Slack's 40,000-character cap, and a message people scroll.
MESSAGE_CHARS = 12_000
MAX_PARTS = 5
_HEAD_BLOCKS = 2  # the title section and the context line
_LINE_LIMIT = 1_500  # a line with a monstrous URL loses the link, never the title


@dataclass(frozen=True)
class DigestEntry:
    """One entry a digest lists (plain text; nothing escaped yet)."""

    title: str
    url: str | None


@dataclass(frozen=True)
class DigestView:
    """One digest message: its entries, which part it is, and the digest's total count."""

    feed_title: str
    feed_url: str | None  # where the feed's name links to (its site)
    entries: Sequence[DigestEntry]
    total: int
    slot: datetime
    part: int = 1
    parts: int = 1
    schedule: str | None = None  # in words: "daily at 09:00 (UTC)"


def entry_line(entry: DigestEntry) -> str:
    """`• <url|title>`, the title literal; bounded so it always fits in a section."""
    title = stored_line(entry.title, TITLE_CHARS) or "(untitled)"
    line = f"• {link(entry.url, title)}"
    return line if len(line) <= _LINE_LIMIT else f"• {feed_mrkdwn(title)}"


def _fits(lines: Sequence[str]) -> int:
    """How many of `lines` fit in one message's sections (at least one)."""
    sections, current, chars = 0, 0, 0
    for n, line in enumerate(lines):
        size = len(line) + 1
        if chars + size > MESSAGE_CHARS:
            return max(n, 1)
        if sections == 0 or current + size > SECTION_LIMIT:
            if sections + 1 > MAX_BLOCKS - _HEAD_BLOCKS - 1:  # one block left for "… and N more"
                return max(n, 1)
            sections, current = sections + 1, 0
        current += size
        chars += size
    return len(lines)


def part_sizes(entries: Sequence[DigestEntry]) -> list[int]:
    """How many entries each message of a digest holds, in order (never more than MAX_PARTS;
    the last part keeps whatever is left, shown as "… and N more")."""
    lines = [entry_line(e) for e in entries]
    sizes: list[int] = []
    start = 0
    while start < len(lines):
        if len(sizes) == MAX_PARTS - 1:
            sizes.append(len(lines) - start)
            break
        n = _fits(lines[start:])
        sizes.append(n)
        start += n
    return sizes or [0]


def _sections(lines: Sequence[str]) -> list[str]:
    sections: list[str] = []
    for line in lines:
        if sections and len(sections[-1]) + 1 + len(line) <= SECTION_LIMIT:
            sections[-1] += "\n" + line
        else:
            sections.append(line)
    return sections


def _date(value: datetime) -> str:
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    fallback = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(value.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def _posts(n: int) -> str:
    return f"{n} new post" if n == 1 else f"{n} new posts"


def digest_message(view: DigestView) -> Announcement:
    """One digest message: "N new posts in <feed>" (with "(1/2)" when split), when, then the
    entries' linked titles, oldest first."""
    feed = stored_line(view.feed_title, FEED_CHARS) or "a feed"
    part = f" ({view.part}/{view.parts})" if view.parts > 1 else ""
    head = f"*{_posts(view.total)} in {link(view.feed_url, feed)}*{part}"
    when = f"Digest of {_date(view.slot)}"
    if view.schedule:
        when += f" · {feed_mrkdwn(view.schedule, 100)}"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": head, "verbatim": True}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": when}]},
    ]
    lines = [entry_line(e) for e in view.entries]
    shown = _fits(lines) if lines else 0
    for text in _sections(lines[:shown]):
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": True}}
        )
    if shown < len(lines):
        more = f"… and {len(lines) - shown} more (`devopsbot feeds log` lists them)"
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": more}]})
    fallback = f"{_posts(view.total)} in {feed_mrkdwn(feed)}{part}"
    return Announcement(text=fallback, blocks=blocks[:MAX_BLOCKS])


def thread_parent(feed_title: str, day: date, feed_url: str | None = None) -> Announcement:
    """The parent of a day's thread: "New in <feed> — Tuesday, 1 December 2026"."""
    feed = stored_line(feed_title, FEED_CHARS) or "a feed"
    when = f"{day:%A}, {day.day} {day:%B %Y}"
    text = f"New in {link(feed_url, feed)} — {when}"
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{text}*", "verbatim": True}},
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": "Today's posts are replies in this thread."}],
        },
    ]
    return Announcement(text=f"New in {feed_mrkdwn(feed)} — {when}", blocks=blocks)
