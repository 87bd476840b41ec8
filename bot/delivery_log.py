"""The delivery log: what each channel subscription posted, what it is waiting for and why, and
what it gave up on, read back from the outbox rows (bot.db.outbox) without touching them.

A waiting post is explained the way bot.slack.announce treats it: a post whose retry time has
not come holds every later post to its channel, so those wait *behind* it. Times of events are
the delivery run's clock (a post's claim time), as the outbox records them.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.db.models import Article, Delivery, Feed, Notice, Subscription
from bot.db.outbox import CLAIM_LEASE, MAX_REFUSALS, MODELS, RATE_LIMITED, REFUSED
from bot.db.sql import aware
from bot.plaintext import one_line, stored_line
from bot.slack.notices import render_notice

# Why a post is still waiting (LogEntry.reason, DeliveryStatus.reason).
QUEUED = "queued"  # due: goes out on the next delivery run
POSTING = "posting"  # a worker has it right now
RATE_LIMITED_UNTIL = "rate_limited"  # Slack said 429; retry_at is when its Retry-After ends
RETRYING = "retrying"  # the last try failed; retry_at is the next one
BEHIND = "behind"  # an earlier post to the same channel is waiting, and order is kept
PAUSED = "paused"  # the subscription is paused
BROKEN = "broken"  # the subscription is broken (channel or token refuses posts)
IN_DIGEST = "digest"  # collected for the subscription's digest (bot.digests), posted with it

# LogEntry.state
POSTED, WAITING, GIVEN_UP, FILTERED = "posted", "waiting", "given_up", "filtered"
_STATES = {
    "posted": POSTED,
    "pending": WAITING,
    "claimed": WAITING,
    "failed": GIVEN_UP,
    "filtered": FILTERED,
    "digest": WAITING,
    "digested": WAITING,
}

RECENT_PROBLEMS = timedelta(days=7)
_MRKDWN_LINK = re.compile(r"<([^|>]*)\|([^>]*)>|<([^>]*)>")


@dataclass(frozen=True)
class Waiting:
    """Why one owed post has not gone out; `behind` is the post it waits behind."""

    reason: str
    retry_at: datetime | None = None
    error: str | None = None
    error_kind: str | None = None
    attempts: int = 0
    behind: Waiting | None = None
    refusals: int = 0  # times Slack refused the message itself


@dataclass(frozen=True)
class Owed:
    """One pending or claimed outbox row, with its subscription's state."""

    kind: str  # "article" | "notice"
    id: int
    subscription_id: int
    channel_id: str
    sub_status: str
    sub_reason: str | None
    sort_at: datetime
    next_attempt_at: datetime
    state: str
    claimed_at: datetime | None
    attempts: int
    error: str | None
    error_kind: str | None
    refusals: int = 0


@dataclass(frozen=True)
class LogEntry:
    """One line of `feeds log`: a post made, owed or given up (the JSON fields, by name)."""

    row_id: int  # the delivery's or notice's id, with `item`
    subscription_id: int
    feed_url: str
    feed_title: str
    channel_id: str
    item: str  # "article" | "notice"
    title: str  # the entry's title, or the notice's text (plain)
    url: str | None
    state: str  # posted | waiting | given_up | filtered
    at: datetime  # when it happened: posted, last tried, or queued
    queued_at: datetime
    attempts: int
    posted_at: datetime | None = None
    slack_ts: str | None = None
    error: str | None = None
    error_kind: str | None = None
    waiting: Waiting | None = None
    refusals: int = 0


@dataclass(frozen=True)
class DeliveryStatus:
    """A channel subscription's delivery at a glance, for `feeds list` and App Home."""

    waiting: int = 0
    first: Waiting | None = None  # why the oldest waiting post has not gone out
    last_posted_at: datetime | None = None
    given_up: int = 0  # posts given up within RECENT_PROBLEMS
    last_given_up: LogEntry | None = None


# -- why posts wait (pure) ---------------------------------------------------------------------


def explain(owed: Iterable[Owed], now: datetime) -> dict[tuple[str, int], Waiting]:
    """Why each owed post is waiting, by (kind, id): walks each channel in posting order, as
    bot.slack.announce does."""
    ordered = sorted(owed, key=lambda o: (o.sort_at, o.kind != "notice", o.id))
    holding: dict[str, Waiting] = {}
    found: dict[tuple[str, int], Waiting] = {}
    for o in ordered:
        if o.sub_status == "paused":
            why = Waiting(PAUSED, error=o.sub_reason)
        elif o.sub_status != "active":
            why = Waiting(BROKEN, error=o.sub_reason, error_kind=o.error_kind)
        elif o.state == "claimed" and o.claimed_at is not None and o.claimed_at > now - CLAIM_LEASE:
            why = Waiting(POSTING, attempts=o.attempts)
        elif o.channel_id in holding:
            first = holding[o.channel_id]
            why = Waiting(BEHIND, retry_at=first.retry_at, attempts=o.attempts, behind=first)
        elif o.error and o.next_attempt_at > now:
            reason = RATE_LIMITED_UNTIL if o.error_kind == RATE_LIMITED else RETRYING
            why = Waiting(
                reason, o.next_attempt_at, o.error, o.error_kind, o.attempts, refusals=o.refusals
            )
            holding[o.channel_id] = why
        else:
            why = Waiting(QUEUED, error=o.error, error_kind=o.error_kind, attempts=o.attempts)
        found[(o.kind, o.id)] = why
    return found


# -- words (pure; `when` formats a time, `text` makes free text safe for where it goes) --------


def _same(value: str) -> str:
    return value


def describe(
    why: Waiting,
    when: Callable[[datetime], str],
    text: Callable[[str], str] = _same,
) -> str:
    """Why a post waits, in a few words: "rate limited by Slack until 21:40"."""
    if why.reason == PAUSED:
        return "the subscription is paused"
    if why.reason == BROKEN:
        return "the subscription is broken" + (f": {text(why.error)}" if why.error else "")
    if why.reason == POSTING:
        return "being posted right now"
    if why.reason == IN_DIGEST:
        return "collected for the subscription's digest, posted with it"
    if why.reason == RATE_LIMITED_UNTIL and why.retry_at is not None:
        return f"rate limited by Slack until {when(why.retry_at)}"
    if why.reason == RETRYING and why.retry_at is not None:
        return (
            f"delayed, retrying at {when(why.retry_at)} after {text(why.error or 'an error')} "
            f"({_tries(why)})"
        )
    if why.reason == BEHIND and why.behind is not None:
        return f"behind an earlier post to this channel, {describe(why.behind, when, text)}"
    return "queued: goes out on the next delivery run"


def _tries(why: Waiting) -> str:
    """How close a retrying post is to being given up: only Slack's refusals count."""
    if why.error_kind == REFUSED:
        return f"refused {why.refusals} of {MAX_REFUSALS} times before it is given up"
    tries = "1 failed try" if why.attempts == 1 else f"{why.attempts} failed tries"
    return f"{tries}; retried until Slack takes it"


def posts(n: int) -> str:
    """ "1 post", "3 posts"."""
    return f"{n} post" if n == 1 else f"{n} posts"


def status_line(
    status: DeliveryStatus,
    when: Callable[[datetime], str],
    text: Callable[[str], str] = _same,
) -> str:
    """One line: what is waiting and why, else when the last post went out."""
    if status.waiting and status.first is not None:
        verb = "is" if status.waiting == 1 else "are"
        return f"{posts(status.waiting)} {verb} waiting: {describe(status.first, when, text)}"
    if status.last_posted_at is not None:
        return f"last posted {when(status.last_posted_at)}"
    return "nothing posted yet"


def problem_line(
    status: DeliveryStatus,
    when: Callable[[datetime], str],
    text: Callable[[str], str] = _same,
    title: Callable[[str], str] | None = None,
) -> str | None:
    """Posts given up on recently, with the latest one's reason; None when there are none."""
    last = status.last_given_up
    if not status.given_up or last is None:
        return None
    shown = (title or text)(last.title)
    return (
        f"{posts(status.given_up)} given up in the last {RECENT_PROBLEMS.days} days; latest "
        f"{when(last.at)}: “{shown}”: {text(last.error or 'unknown error')}"
    )


def entry_detail(entry: LogEntry, when: Callable[[datetime], str]) -> str:
    """What happened to one post, in words (plain text)."""
    if entry.state == POSTED:
        words = "posted" + (f", Slack ts {entry.slack_ts}" if entry.slack_ts else "")
        if entry.attempts > 1:
            words += f", on attempt {entry.attempts}"
            if entry.error:
                words += f" (earlier: {entry.error})"
        return words
    if entry.state == FILTERED:
        return "not posted: the subscription's filters leave it out"
    if entry.state == GIVEN_UP:
        return (
            f"given up after Slack refused it {entry.refusals} times: "
            f"{entry.error or 'unknown error'}"
        )
    if entry.waiting is not None:
        return "waiting: " + describe(entry.waiting, when)
    return "waiting"


# -- reading the outbox ------------------------------------------------------------------------


def _owed(session: Session, channel_ids: set[str] | None = None) -> list[Owed]:
    """Every pending or claimed post (of the given channels), with its subscription's state;
    digest messages and day-thread parents too, since later posts wait behind them."""
    found: list[Owed] = []
    for kind, model in MODELS.items():
        query = (
            select(
                model.id,
                model.subscription_id,
                Subscription.channel_id,
                Subscription.status,
                Subscription.status_reason,
                model.sort_at,
                model.next_attempt_at,
                model.state,
                model.claimed_at,
                model.attempts,
                model.last_error,
                model.last_error_kind,
                model.refusals,
            )
            .join(Subscription, Subscription.id == model.subscription_id)
            .where(model.state.in_(("pending", "claimed")), Subscription.channel_id.is_not(None))
        )
        if channel_ids is not None:
            query = query.where(Subscription.channel_id.in_(channel_ids))
        for r in session.execute(query):
            found.append(
                Owed(
                    kind=kind,
                    id=r[0],
                    subscription_id=r[1],
                    channel_id=r[2],
                    sub_status=r[3],
                    sub_reason=r[4],
                    sort_at=aware(r[5]),  # type: ignore[arg-type]
                    next_attempt_at=aware(r[6]),  # type: ignore[arg-type]
                    state=r[7],
                    claimed_at=aware(r[8]),
                    attempts=int(r[9] or 0),
                    error=r[10],
                    error_kind=r[11],
                    refusals=int(r[12] or 0),
                )
            )
    return found


def notice_plain(stored: str) -> str:
    """A stored notice as one plain line, worded as in Slack: links shown by their label."""
    unlinked = _MRKDWN_LINK.sub(lambda m: m.group(2) or m.group(3) or "", render_notice(stored))
    return one_line(html.unescape(unlinked.replace("\u200b", "").replace("*", "")), 300)


def _event_time(row: Any) -> Any:
    return func.coalesce(row.posted_at, row.claimed_at, row.created_at)


def _entries(
    session: Session,
    kind: str,
    sub_ids: Sequence[int] | None,
    limit: int,
    states: Sequence[str],
    since: datetime | None = None,
) -> list[LogEntry]:
    model = MODELS[kind]
    title: Any = Article.title if kind == "article" else Notice.text
    url: Any = Article.url if kind == "article" else Feed.site_url
    query = (
        select(model, Subscription.channel_id, Feed.url, Feed.title, title, url)
        .join(Subscription, Subscription.id == model.subscription_id)
        .join(Feed, Feed.id == Subscription.feed_id)
        .where(model.state.in_(states), Subscription.channel_id.is_not(None))
    )
    if kind == "article":
        query = query.join(Article, Article.id == Delivery.article_id)
    if sub_ids is not None:
        query = query.where(model.subscription_id.in_(sub_ids))
    if since is not None:
        query = query.where(_event_time(model) >= since)
    query = query.order_by(_event_time(model).desc(), model.id.desc()).limit(limit)
    entries = []
    for row, channel, feed_url, feed_title, shown, link in session.execute(query):
        queued = aware(row.created_at)
        entries.append(
            LogEntry(
                row_id=row.id,
                subscription_id=row.subscription_id,
                feed_url=feed_url,
                feed_title=stored_line(feed_title or feed_url, 150),
                channel_id=channel,
                item=kind,
                title=stored_line(shown, 250) if kind == "article" else notice_plain(shown),
                url=link,
                state=_STATES.get(row.state, row.state),
                at=aware(row.posted_at) or aware(row.claimed_at) or queued,  # type: ignore[arg-type]
                queued_at=queued,  # type: ignore[arg-type]
                attempts=int(row.attempts or 0),
                posted_at=aware(row.posted_at),
                slack_ts=row.message_ts,
                error=row.last_error,
                error_kind=row.last_error_kind,
                waiting=Waiting(IN_DIGEST) if row.state in ("digest", "digested") else None,
                refusals=int(row.refusals or 0),
            )
        )
    return entries


_ALL_STATES = ("posted", "pending", "claimed", "failed", "filtered", "digest", "digested")


def delivery_log(
    session: Session, now: datetime, sub_ids: Sequence[int] | None = None, limit: int = 20
) -> list[LogEntry]:
    """The newest `limit` posts made, owed, given up or filtered out (of these subscriptions,
    or all), newest first, each waiting one with why."""
    entries = _entries(session, "article", sub_ids, limit, _ALL_STATES)
    entries += _entries(session, "notice", sub_ids, limit, _ALL_STATES)
    entries.sort(key=lambda e: (e.at, e.queued_at), reverse=True)
    entries = entries[:limit]
    channels = {e.channel_id for e in entries if e.state == WAITING}
    if not channels:
        return entries
    # The whole of those channels' queues: a post can wait behind another feed's post.
    reasons = explain(_owed(session, channels), now)
    return [
        replace(e, waiting=reasons.get((e.item, e.row_id)) or e.waiting)
        if e.state == WAITING
        else e
        for e in entries
    ]


def delivery_statuses(
    session: Session, sub_ids: Sequence[int], now: datetime
) -> dict[int, DeliveryStatus]:
    """Each channel subscription's waiting posts (and why the oldest waits), last post and
    recent given-up posts."""
    if not sub_ids:
        return {}
    wanted = set(sub_ids)
    channels = set(
        session.scalars(
            select(Subscription.channel_id).where(
                Subscription.id.in_(wanted), Subscription.channel_id.is_not(None)
            )
        )
    )
    # Every post of those channels: a subscription's posts can wait behind another's.
    owed = _owed(session, channels)
    reasons = explain(owed, now)
    waiting: dict[int, list[Owed]] = {}
    for o in sorted(owed, key=lambda o: (o.sort_at, o.kind != "notice", o.id)):
        if o.subscription_id in wanted:
            waiting.setdefault(o.subscription_id, []).append(o)
    last_posted: dict[int, datetime] = {}
    for model in (Delivery, Notice):
        # Only posted rows have a posted_at: one index lookup per subscription, not a scan.
        latest = (
            select(func.max(model.posted_at))
            .where(model.subscription_id == Subscription.id)
            .scalar_subquery()
        )
        for sub_id, at in session.execute(
            select(Subscription.id, latest).where(Subscription.id.in_(wanted))
        ):
            at = aware(at)
            if at is not None and (sub_id not in last_posted or at > last_posted[sub_id]):
                last_posted[sub_id] = at
    failed: dict[int, list[LogEntry]] = {}
    since = now - RECENT_PROBLEMS
    for kind in ("article", "notice"):
        for entry in _entries(session, kind, list(wanted), 10_000, ("failed",), since):
            failed.setdefault(entry.subscription_id, []).append(entry)
    statuses = {}
    for sub_id in wanted:
        owed_here = waiting.get(sub_id, [])
        gave_up = sorted(failed.get(sub_id, []), key=lambda e: e.at, reverse=True)
        statuses[sub_id] = DeliveryStatus(
            waiting=len(owed_here),
            first=reasons[(owed_here[0].kind, owed_here[0].id)] if owed_here else None,
            last_posted_at=last_posted.get(sub_id),
            given_up=len(gave_up),
            last_given_up=gave_up[0] if gave_up else None,
        )
    return statuses
