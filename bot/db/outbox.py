"""The announcement outbox: what each channel is owed (deliveries, notices) and who is posting it.

Exactly-once rests on two database facts, not on memory:
- a Delivery row is unique per (subscription, article), and rows are only created for articles
  the store has just inserted (or, once, for a backfill), so an entry is owed at most once;
- a row is *claimed* by one conditional UPDATE (state pending → claimed) before its post, and
  marked posted after it, so two pollers never post the same row.

A post whose outcome is unknown is not posted blindly again: a try that timed out or lost its
connection, or a claim whose holder died before `mark_posted` committed (it goes stale after
CLAIM_LEASE), leaves the row `unsure`, and the announcer looks for the message in the channel's
history before posting it again (bot.slack.reconcile). Only where it cannot look (no history
scope) is such a post sent twice; never retrying would lose posts instead.

Rate limits are not tries at all, and failures of Slack's own (5xx, timeouts) never give a post
up; only Slack refusing the message itself, MAX_REFUSALS times, does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.orm import Session

from bot.db.models import (
    Article,
    Delivery,
    DigestPost,
    Feed,
    Notice,
    Subscription,
    ThreadPost,
    utcnow,
)
from bot.db.sql import aware, insert_ignoring_duplicates
from bot.schedules import thread_day

CLAIM_LEASE = timedelta(minutes=10)
MAX_REFUSALS = 5

# What held a post up, as stored in `last_error_kind` (the delivery log reads it back).
RATE_LIMITED = "rate_limited"  # HTTP 429: next_attempt_at is when Slack's Retry-After ends
SLACK_ERROR = "slack_error"  # Slack answered an error (HTTP 5xx, internal_error, …)
TIMEOUT = "timeout"  # Slack did not answer in time
NETWORK = "network"  # Slack could not be reached
REFUSED = "refused"  # Slack refused the message itself (invalid_blocks, msg_too_long, …)
CHANNEL = "channel"  # the channel refuses posts: the subscription is broken
TOKEN = "token"  # the bot token is unusable: every channel subscription is broken
ERROR_KINDS = (RATE_LIMITED, SLACK_ERROR, TIMEOUT, NETWORK, REFUSED, CHANNEL, TOKEN)


# -- what is owed ------------------------------------------------------------------------------


def _date(article: Article) -> datetime | None:
    return aware(article.published_at or article.updated_at)


def oldest_first(articles: Sequence[Article]) -> list[Article]:
    """Articles (given in feed-document order) in the order they were published.

    With a date on every entry we sort by it; otherwise we trust the convention that feeds list
    the newest entry first and reverse the document order.
    """
    indexed = list(enumerate(articles))
    if indexed and all(_date(a) is not None for _, a in indexed):
        return [a for _, a in sorted(indexed, key=lambda p: (_date(p[1]), -p[0]))]
    return [a for _, a in reversed(indexed)]


# Decides, per subscription, which articles pass its filters: the feed pipeline's rule, handed
# in so the store knows nothing of filters.
ArticleFilter = Callable[[Subscription], Callable[[Article], bool]]


def _delivery_rows(
    sub: Subscription,
    ordered: Sequence[Article],
    now: datetime,
    passes: ArticleFilter,
    thread_id: int | None = None,
) -> list[dict[str, Any]]:
    keeps = passes(sub)
    # A digest subscription collects what passes its filters; bot.digests posts it on schedule.
    kept = "digest" if sub.digest else "pending"
    rows = []
    for i, article in enumerate(ordered):
        rows.append(
            {
                "subscription_id": sub.id,
                "article_id": article.id,
                "state": kept if keeps(article) else "filtered",
                # Microsecond steps keep "oldest first" inside one poll without a second column.
                "sort_at": now + timedelta(microseconds=i),
                "created_at": now,
                "next_attempt_at": now,
                "attempts": 0,
                "thread_id": thread_id,
            }
        )
    return rows


def _thread_for(session: Session, sub: Subscription, now: datetime) -> int | None:
    """The id of the sub's thread parent for the day of `now` (made once per day: the unique
    key decides), or None when the subscription does not post in threads."""
    day = thread_day(sub.thread, now) if not sub.digest else None
    if day is None:
        return None
    row = {
        "subscription_id": sub.id,
        "day": day,
        "state": "pending",
        "sort_at": now - timedelta(microseconds=1),  # before the day's first reply
        "created_at": now,
        "next_attempt_at": now,
        "attempts": 0,
    }
    insert_ignoring_duplicates(session, ThreadPost, [row])
    return session.scalar(
        select(ThreadPost.id).where(ThreadPost.subscription_id == sub.id, ThreadPost.day == day)
    )


def _rows_for(
    session: Session,
    sub: Subscription,
    ordered: Sequence[Article],
    now: datetime,
    passes: ArticleFilter,
) -> list[dict[str, Any]]:
    keeps = passes(sub)
    thread_id = _thread_for(session, sub, now) if any(keeps(a) for a in ordered) else None
    return _delivery_rows(sub, ordered, now, passes, thread_id)


def channel_subscriptions(session: Session, feed_id: int) -> list[Subscription]:
    """The feed's active subscriptions that announce into a channel."""
    return list(
        session.scalars(
            select(Subscription)
            .where(
                Subscription.feed_id == feed_id,
                Subscription.status == "active",
                Subscription.channel_id.is_not(None),
            )
            .order_by(Subscription.id)
        )
    )


def enqueue_articles(
    session: Session,
    feed_id: int,
    articles: Sequence[Article],
    now: datetime,
    passes: ArticleFilter,
) -> int:
    """Owe each new article (document order) to every active channel subscription of the feed.

    Returns how many deliveries will be posted (filtered ones are recorded but not posted).
    """
    if not articles:
        return 0
    ordered = oldest_first(articles)
    rows: list[dict[str, Any]] = []
    for sub in channel_subscriptions(session, feed_id):
        rows.extend(_rows_for(session, sub, ordered, now, passes))
    insert_ignoring_duplicates(session, Delivery, rows)
    return sum(1 for r in rows if r["state"] == "pending")


def enqueue_backfill(
    session: Session, sub: Subscription, source_id: int, n: int, passes: ArticleFilter
) -> int:
    """Owe the newest `n` stored articles of the feed to `sub`, to be posted oldest first."""
    if n <= 0 or sub.channel_id is None:
        return 0
    articles = list(
        session.scalars(select(Article).where(Article.source_id == source_id).order_by(Article.id))
    )
    newest = oldest_first(articles)[-n:]
    rows = _rows_for(session, sub, newest, datetime.now(UTC), passes)
    insert_ignoring_duplicates(session, Delivery, rows)
    return sum(1 for r in rows if r["state"] == "pending")


def enqueue_notice(
    session: Session, feed_id: int, kind: str, key: str, text: str, now: datetime
) -> int:
    """Owe one message about the feed to each active channel subscription, once per `key`."""
    rows = [
        {
            "subscription_id": sub.id,
            "key": key[:128],
            "kind": kind,
            "text": text,
            "state": "pending",
            "sort_at": now,
            "created_at": now,
            "next_attempt_at": now,
            "attempts": 0,
        }
        for sub in channel_subscriptions(session, feed_id)
    ]
    return insert_ignoring_duplicates(session, Notice, rows)


# -- who is posting it -------------------------------------------------------------------------


@dataclass(frozen=True)
class OutboxItem:
    """One post owed to a channel: an article delivery or a notice."""

    kind: str  # "article" | "notice" | "digest" (a digest message) | "thread" (a day's parent)
    id: int
    subscription_id: int
    channel_id: str
    sort_at: datetime
    next_attempt_at: datetime
    state: str


OutboxModel = type[Delivery] | type[Notice] | type[DigestPost] | type[ThreadPost]
MODELS: dict[str, OutboxModel] = {
    "article": Delivery,
    "notice": Notice,
    "digest": DigestPost,
    "thread": ThreadPost,
}


def _model(kind: str) -> OutboxModel:
    return MODELS[kind]


def _claimable(model: OutboxModel, now: datetime) -> Any:
    """Pending rows, and claims whose holder died (older than the lease)."""
    return or_(
        model.state == "pending",
        and_(model.state == "claimed", model.claimed_at <= now - CLAIM_LEASE),
    )


def owed_items(session: Session, now: datetime, limit: int = 500) -> list[OutboxItem]:
    """Pending (or stale-claimed) posts of active channel subscriptions, oldest first.

    Rows whose retry time has not come are included, so callers can keep a channel's order by
    not posting past them.
    """
    items: list[OutboxItem] = []
    for kind, model in MODELS.items():
        query = (
            select(
                model.id,
                model.subscription_id,
                Subscription.channel_id,
                model.sort_at,
                model.next_attempt_at,
                model.state,
            )
            .join(Subscription, Subscription.id == model.subscription_id)
            .where(
                _claimable(model, now),
                Subscription.status == "active",
                Subscription.channel_id.is_not(None),
            )
            .order_by(model.sort_at, model.id)
            .limit(limit)
        )
        if kind == "article":
            # A thread reply is owed once its day's parent is out (or given up: then it is
            # posted on its own), so it always has a thread to go in.
            query = query.outerjoin(ThreadPost, ThreadPost.id == Delivery.thread_id).where(
                or_(Delivery.thread_id.is_(None), ThreadPost.state.in_(("posted", "failed")))
            )
        rows = session.execute(query)
        items.extend(
            OutboxItem(kind, r[0], r[1], r[2], aware(r[3]) or now, aware(r[4]) or now, r[5])  # type: ignore[arg-type]
            for r in rows
        )
    items.sort(key=lambda i: (i.sort_at, i.kind != "notice", i.id))
    return items


def claim(session: Session, item: OutboxItem, now: datetime, worker: str) -> bool:
    """Take the row for posting; False when another worker already has it.

    Taking over a stale claim makes the row `unsure`: its holder may have posted it."""
    model = _model(item.kind)
    result = session.execute(
        update(model)
        .where(model.id == item.id, _claimable(model, now), model.next_attempt_at <= now)
        .values(
            state="claimed",
            claimed_at=now,
            claimed_by=worker,
            attempts=model.attempts + 1,
            unsure=case((model.state == "claimed", True), else_=model.unsure),
            # Real time, compared with Slack's message timestamps (the run's clock may not be).
            first_claimed_at=func.coalesce(model.first_claimed_at, utcnow()),
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class PostState:
    """What a claimed row's earlier tries left: counts, and whether one may have been posted."""

    attempts: int
    refusals: int
    unsure: bool
    first_claimed_at: datetime | None


def post_state(session: Session, item: OutboxItem) -> PostState:
    """The claimed row's tries so far (this claim included); all zero if the row vanished
    meanwhile (its subscription was removed)."""
    model = _model(item.kind)
    row = session.execute(
        select(
            model.attempts, model.refusals, model.unsure, model.first_claimed_at, model.claimed_at
        ).where(model.id == item.id)
    ).first()
    if row is None:
        return PostState(0, 0, False, None)
    return PostState(int(row[0] or 0), int(row[1] or 0), bool(row[2]), aware(row[3] or row[4]))


def mark_posted(session: Session, item: OutboxItem, ts: str | None, now: datetime) -> None:
    """The post went out: never post this row again (its last error stays, as history)."""
    model = _model(item.kind)
    session.execute(
        update(model)
        .where(model.id == item.id)
        .values(state="posted", posted_at=now, message_ts=ts, unsure=False)
    )
    if item.kind == "digest":  # the entries it lists went out with it
        session.execute(
            update(Delivery)
            .where(Delivery.digest_post_id == item.id)
            .values(state="posted", posted_at=now, message_ts=ts)
        )


def mark_found(session: Session, item: OutboxItem, ts: str, now: datetime) -> None:
    """An earlier try had gone through (its message is in the channel): posted, not again."""
    model = _model(item.kind)
    note = "; it had gone through (found in the channel's history, not posted again)"
    session.execute(
        update(model)
        .where(model.id == item.id)
        .values(
            state="posted",
            posted_at=now,
            message_ts=ts,
            unsure=False,
            last_error=func.coalesce(model.last_error, "the outcome was unknown") + note,
        )
    )


def release(
    session: Session,
    item: OutboxItem,
    retry_at: datetime,
    error: str,
    kind: str,
    *,
    unsure: bool = False,
) -> None:
    """Give the row back after a failed try, to be posted at `retry_at` (it keeps its place in
    the order); `error` says why in words, `kind` is one of ERROR_KINDS, `unsure` that some
    try may have been posted all the same. A REFUSED try counts toward giving up."""
    model = _model(item.kind)
    session.execute(
        update(model)
        .where(model.id == item.id)
        .values(
            state="pending",
            claimed_by=None,
            next_attempt_at=retry_at,
            last_error=error,
            last_error_kind=kind,
            unsure=unsure,
            refusals=model.refusals + (1 if kind == REFUSED else 0),
        )
    )


def defer(
    session: Session, item: OutboxItem, retry_at: datetime, error: str, *, unsure: bool
) -> None:
    """Slack's rate limit: give the row back until `retry_at` without counting a try."""
    release(session, item, retry_at, error, RATE_LIMITED, unsure=unsure)
    model = _model(item.kind)
    session.execute(update(model).where(model.id == item.id).values(attempts=model.attempts - 1))


def give_up(session: Session, item: OutboxItem, error: str, kind: str) -> None:
    """Stop trying one post Slack keeps refusing for a reason of its own (logged by the caller)."""
    model = _model(item.kind)
    session.execute(
        update(model)
        .where(model.id == item.id)
        .values(
            state="failed",
            last_error=error,
            last_error_kind=kind,
            unsure=False,
            refusals=model.refusals + (1 if kind == REFUSED else 0),
        )
    )


def break_subscriptions(
    session: Session, reason: str, *, channel_id: str | None = None, sub_id: int | None = None
) -> int:
    """Mark active channel subscriptions broken (all, one channel's, or one); their owed posts
    stay pending until a resume."""
    stmt = update(Subscription).where(
        Subscription.status == "active", Subscription.channel_id.is_not(None)
    )
    if channel_id is not None:
        stmt = stmt.where(Subscription.channel_id == channel_id)
    if sub_id is not None:
        stmt = stmt.where(Subscription.id == sub_id)
    result = session.execute(stmt.values(status="broken", status_reason=reason))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def article_message_parts(
    session: Session, item: OutboxItem
) -> tuple[Article, Feed, Subscription] | None:
    """What an article post is built from; None when the row vanished meanwhile."""
    row = session.execute(
        select(Article, Feed, Subscription)
        .join(Delivery, Delivery.article_id == Article.id)
        .join(Subscription, Subscription.id == Delivery.subscription_id)
        .join(Feed, Feed.id == Subscription.feed_id)
        .where(Delivery.id == item.id)
    ).first()
    return None if row is None else (row[0], row[1], row[2])


def thread_ts_of(session: Session, item: OutboxItem) -> str | None:
    """The Slack ts of the day thread an article post replies in (None: not a reply)."""
    if item.kind != "article":
        return None
    return session.scalar(
        select(ThreadPost.message_ts)
        .join(Delivery, Delivery.thread_id == ThreadPost.id)
        .where(Delivery.id == item.id, ThreadPost.state == "posted")
    )


def notice_payload(kind: str, **fields: object) -> str:
    """A notice as stored: its kind and plain facts (JSON); Slack renders and escapes it."""
    return json.dumps({"kind": kind, **fields}, ensure_ascii=False)


def notice_text(session: Session, item: OutboxItem) -> str | None:
    """The stored form of a notice (see `notice_payload`; older rows hold finished mrkdwn)."""
    return session.scalar(select(Notice.text).where(Notice.id == item.id))
