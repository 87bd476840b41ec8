"""The messages of digest and day-thread outbox rows: read from the store (bot.digests), built
by the pure Block Kit builders (bot.slack.digest_blocks)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from bot.db.outbox import OutboxItem
from bot.digests import digest_contents, thread_contents
from bot.slack.announce_blocks import Announcement
from bot.slack.digest_blocks import (
    DigestEntry,
    DigestView,
    digest_message,
    part_sizes,
    thread_parent,
)

GROUPED_KINDS = frozenset({"digest", "thread"})


def split(entries: Sequence[tuple[str, str | None]]) -> list[int]:
    """How many entries each message of a digest holds (bot.digests' Splitter)."""
    return part_sizes([DigestEntry(title, url) for title, url in entries])


def grouped_message(session: Session, item: OutboxItem) -> Announcement | None:
    """The message for a claimed digest or thread-parent row; None if the row vanished."""
    if item.kind == "thread":
        thread = thread_contents(session, item.id)
        if thread is None:
            return None
        return thread_parent(thread.feed_title, thread.day, thread.site_url)
    digest = digest_contents(session, item.id)
    if digest is None:
        return None
    view = DigestView(
        feed_title=digest.feed_title,
        feed_url=digest.site_url,
        entries=[DigestEntry(title, url) for title, url in digest.entries],
        total=digest.total,
        slot=digest.slot,
        part=digest.part,
        parts=digest.parts,
        schedule=digest.schedule.describe() if digest.schedule else None,
    )
    return digest_message(view)
