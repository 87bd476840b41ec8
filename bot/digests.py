"""Digests and day threads in the store: collecting a digest subscription's entries into digest
messages when its schedule comes round, and reading back what a digest or thread post shows.

Exactly-once, as for single posts (bot.db.outbox), rests on database facts:
- a digest is made by inserting its first message row, unique per (subscription, slot, part):
  of two replicas closing the same digest, one inserts it and collects, the other does nothing;
- its entries are taken by one conditional UPDATE (collected, in no digest yet → in this one),
  checked row for row, so an entry is in exactly one digest (a lost race rolls the close back);
- each digest message is then an outbox row like any other: claimed before its post, marked
  after, paced and ordered per channel under the channel lease.
A digest whose time passed while the bot was down is made at the next tick: the slot is the
latest scheduled moment, and everything collected up to it goes in (missed slots fold in).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Article, Delivery, DigestPost, Feed, Subscription, ThreadPost
from bot.db.sql import aware, insert_ignoring_duplicates
from bot.schedules import Schedule, stored_schedule

log = logging.getLogger(__name__)

# How many entries each message of a digest holds, given the entries' (title, url) in order:
# the Slack layer's rule (bot.slack.digest_blocks.part_sizes), handed in.
Splitter = Callable[[Sequence[tuple[str, str | None]]], list[int]]
COLLECTED = "digest"  # Delivery.state of an entry waiting for its subscription's digest
DIGESTED = "digested"  # … taken by a digest message not posted yet


class _LostRace(Exception):
    """Another replica collected some of these entries first: roll this close back."""


def due_slot(digest: str | None, now: datetime) -> datetime:
    """The moment the digest being collected is for: the schedule's latest one up to `now`;
    `now` itself when the subscription no longer has a digest (what it collected goes out)."""
    schedule = stored_schedule(digest)
    return (schedule.last_due(now) if schedule else now).astimezone(UTC)


def _collected(sub_id: int, slot: datetime):  # type: ignore[no-untyped-def]
    return (
        select(Delivery.id, Article.title, Article.url)
        .join(Article, Article.id == Delivery.article_id)
        .where(
            Delivery.subscription_id == sub_id,
            Delivery.state == COLLECTED,
            Delivery.digest_post_id.is_(None),
            Delivery.created_at <= slot,
        )
        .order_by(Delivery.sort_at, Delivery.id)
    )


def close_due_digests(sessions: sessionmaker[Session], now: datetime, split: Splitter) -> int:
    """Make every digest that is due at `now` (one transaction each); returns how many."""
    with sessions() as session:
        waiting = session.execute(
            select(Subscription.id, Subscription.digest)
            .where(
                Subscription.status == "active",
                Subscription.channel_id.is_not(None),
                Subscription.id.in_(
                    select(Delivery.subscription_id).where(Delivery.state == COLLECTED).distinct()
                ),
            )
            .order_by(Subscription.id)
        ).all()
    made = 0
    for sub_id, digest in waiting:
        slot = due_slot(digest, now)
        try:
            with sessions.begin() as session:
                made += _close(session, sub_id, slot, now, split)
        except _LostRace:
            log.debug("digest of subscription %s for %s: another replica made it", sub_id, slot)
    return made


def _close(session: Session, sub_id: int, slot: datetime, now: datetime, split: Splitter) -> int:
    if session.execute(_collected(sub_id, slot).limit(1)).first() is None:
        return 0  # nothing collected up to this slot: no empty digests
    first = _part_row(sub_id, slot, 1, now)
    if not insert_ignoring_duplicates(session, DigestPost, [first]):
        return 0  # another replica made this digest
    # Read again after the write: on SQLite the write lock is ours now, so this is current.
    rows = session.execute(_collected(sub_id, slot)).all()
    if not rows:
        raise _LostRace
    sizes = [n for n in split([(r.title, r.url) for r in rows]) if n > 0] or [len(rows)]
    ids = [r.id for r in rows]
    insert_ignoring_duplicates(
        session, DigestPost, [_part_row(sub_id, slot, p, now) for p in range(2, len(sizes) + 1)]
    )
    parts = dict(
        session.execute(
            select(DigestPost.part, DigestPost.id).where(
                DigestPost.subscription_id == sub_id, DigestPost.slot == slot
            )
        ).all()
    )
    start = 0
    for part, size in enumerate(sizes, start=1):
        chunk = ids[start : start + size]
        start += size
        session.execute(
            update(DigestPost)
            .where(DigestPost.id == parts[part])
            .values(parts=len(sizes), entries=len(ids))
        )
        taken = session.execute(
            update(Delivery)
            .where(
                Delivery.id.in_(chunk),
                Delivery.state == COLLECTED,
                Delivery.digest_post_id.is_(None),
            )
            .values(state=DIGESTED, digest_post_id=parts[part])
        )
        if taken.rowcount != len(chunk):  # type: ignore[attr-defined]
            raise _LostRace
    return 1


def _part_row(sub_id: int, slot: datetime, part: int, now: datetime) -> dict[str, object]:
    return {
        "subscription_id": sub_id,
        "slot": slot,
        "part": part,
        "parts": 1,
        "entries": 0,
        "state": "pending",
        "sort_at": now + timedelta(microseconds=part),
        "created_at": now,
        "next_attempt_at": now,
        "attempts": 0,
    }


def collected_counts(session: Session, sub_ids: Sequence[int]) -> dict[int, int]:
    """Entries each subscription has collected for its next digest."""
    if not sub_ids:
        return {}
    return dict(
        session.execute(  # type: ignore[arg-type]
            select(Delivery.subscription_id, func.count())
            .where(Delivery.subscription_id.in_(sub_ids), Delivery.state == COLLECTED)
            .group_by(Delivery.subscription_id)
        ).all()
    )


# -- what a digest or thread post shows --------------------------------------------------------


@dataclass(frozen=True)
class DigestContents:
    """One digest message as stored: its entries (title, url) oldest first, and where it is."""

    feed_title: str
    site_url: str | None
    entries: list[tuple[str, str | None]]
    total: int
    slot: datetime
    part: int
    parts: int
    schedule: Schedule | None


def digest_contents(session: Session, post_id: int) -> DigestContents | None:
    """What a digest message lists; None when the row vanished meanwhile."""
    row = session.execute(
        select(DigestPost, Feed, Subscription)
        .join(Subscription, Subscription.id == DigestPost.subscription_id)
        .join(Feed, Feed.id == Subscription.feed_id)
        .where(DigestPost.id == post_id)
    ).first()
    if row is None:
        return None
    post, feed, sub = row
    entries = session.execute(
        select(Article.title, Article.url)
        .join(Delivery, Delivery.article_id == Article.id)
        .where(Delivery.digest_post_id == post_id)
        .order_by(Delivery.sort_at, Delivery.id)
    ).all()
    return DigestContents(
        feed_title=feed.title or feed.url,
        site_url=feed.site_url or feed.url,
        entries=[(t, u) for t, u in entries],
        total=post.entries or len(entries),
        slot=aware(post.slot) or post.slot,
        part=post.part,
        parts=post.parts,
        schedule=stored_schedule(sub.digest),
    )


@dataclass(frozen=True)
class ThreadContents:
    """A day thread's parent as stored: the feed and the day."""

    feed_title: str
    site_url: str | None
    day: date


def thread_contents(session: Session, post_id: int) -> ThreadContents | None:
    """What a day thread's parent shows; None when the row vanished meanwhile."""
    row = session.execute(
        select(ThreadPost.day, Feed.title, Feed.url, Feed.site_url)
        .join(Subscription, Subscription.id == ThreadPost.subscription_id)
        .join(Feed, Feed.id == Subscription.feed_id)
        .where(ThreadPost.id == post_id)
    ).first()
    if row is None:
        return None
    day, title, url, site = row
    return ThreadContents(title or url, site or url, date.fromisoformat(day))
