"""Channel leases: one replica at a time owns a channel's queue.

Per-post claims (bot/db/outbox.py) stop two replicas posting the same row; they do not stop two
replicas posting *different* rows of one channel at the same instant, or out of order. A lease
per channel does: only its owner posts there, and it paces itself from the channel's last post,
whoever made it. A lease left by a dead replica lapses after CHANNEL_LEASE.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from bot.db.models import ChannelLease
from bot.db.sql import aware, insert_ignoring_duplicates

# Renewed before every post, so it only has to outlast one post and its pacing wait.
CHANNEL_LEASE = timedelta(seconds=20)


@dataclass(frozen=True)
class ChannelTurn:
    """The outcome of asking for a channel: whether we own it, and its last post's time."""

    owned: bool
    last_post_at: datetime | None = None


def take_channel(
    session: Session, channel_id: str, worker: str, now: datetime, lease: timedelta = CHANNEL_LEASE
) -> ChannelTurn:
    """Own (or keep owning) the channel until now + lease, unless another live owner has it."""
    insert_ignoring_duplicates(
        session, ChannelLease, [{"channel_id": channel_id, "owner": None, "lease_until": now}]
    )
    # One conditional UPDATE decides between racing replicas (a row lock on PostgreSQL, the
    # write lock on SQLite): the loser's WHERE no longer matches once the winner commits.
    result = session.execute(
        update(ChannelLease)
        .where(
            ChannelLease.channel_id == channel_id,
            or_(
                ChannelLease.owner == worker,
                ChannelLease.owner.is_(None),
                ChannelLease.lease_until <= now,
            ),
        )
        .values(owner=worker, lease_until=now + lease)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return ChannelTurn(False)
    last = session.scalar(
        select(ChannelLease.last_post_at).where(ChannelLease.channel_id == channel_id)
    )
    return ChannelTurn(True, aware(last))


def keep_channel(
    session: Session, channel_id: str, worker: str, now: datetime, lease: timedelta = CHANNEL_LEASE
) -> bool:
    """Renew a channel this worker owns (one UPDATE, for every post); False when it is not the
    owner any more (its lease lapsed and another replica took the channel)."""
    result = session.execute(
        update(ChannelLease)
        .where(ChannelLease.channel_id == channel_id, ChannelLease.owner == worker)
        .values(lease_until=now + lease)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def posted_in_channel(
    session: Session, channel_id: str, worker: str, now: datetime, lease: timedelta = CHANNEL_LEASE
) -> None:
    """Record a post made by the channel's owner (the next owner paces from it)."""
    session.execute(
        update(ChannelLease)
        .where(ChannelLease.channel_id == channel_id, ChannelLease.owner == worker)
        .values(last_post_at=now, lease_until=now + lease)
    )


def release_channels(session: Session, channel_ids: set[str], worker: str, now: datetime) -> None:
    """Hand back channels this worker owns (its queue for them is done for now)."""
    if not channel_ids:
        return
    session.execute(
        update(ChannelLease)
        .where(ChannelLease.channel_id.in_(channel_ids), ChannelLease.owner == worker)
        .values(owner=None, lease_until=now)
    )
