"""The feed pipeline, one orchestrator: fetch → parse → store → schedule the next check.

Stages never call each other; this module is the only one that knows all of them.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.db.models import Article, Feed, Source, utcnow
from bot.db.store import get_or_create_source, store_feed_entries
from bot.feeds.fetch import FetchError, FetchResult, check_url_allowed, fetch_feed
from bot.feeds.parse import FeedParseError, ParsedFeed, parse_feed

log = logging.getLogger(__name__)

MIN_INTERVAL = timedelta(minutes=5)
MAX_INTERVAL = timedelta(hours=24)
MAX_BACKOFF = timedelta(hours=6)


class FeedError(Exception):
    """A feed could not be added or refreshed; the message tells the user what to do."""


@dataclass
class PollOutcome:
    """What one poll of one feed did."""

    feed_id: int
    url: str
    title: str
    status: str  # "updated" | "not_modified" | "error" | "gone"
    new_articles: list[Article] = field(default_factory=list)
    edited: int = 0
    error: str | None = None


def _download(
    url: str, settings: Settings, http: httpx.Client | None, feed: Feed | None = None
) -> FetchResult:
    return fetch_feed(
        url,
        etag=feed.etag if feed else None,
        last_modified=feed.last_modified if feed else None,
        timeout=settings.devopsbot_http_timeout,
        max_bytes=settings.devopsbot_max_feed_bytes,
        allow_private=settings.devopsbot_allow_private_urls,
        client=http,
    )


def add_feed(
    session: Session, url: str, settings: Settings, http: httpx.Client | None = None
) -> tuple[Feed, list[Article]]:
    """Fetch and parse `url`, then store the feed and its current entries (nothing on error)."""
    url = url.strip()
    try:
        check_url_allowed(url, settings.devopsbot_allow_private_urls)
        existing = session.scalar(select(Feed).where(Feed.url == url))
        if existing is not None:
            return existing, []
        result = _download(url, settings, http)
        parsed = parse_feed(result.body, result.final_url)
    except FetchError as exc:
        raise FeedError(exc.message) from None
    except FeedParseError as exc:
        raise FeedError(str(exc)) from None
    stored_url = result.permanent_url or url
    source = get_or_create_source(session, "feed", stored_url, parsed.title)
    now = utcnow()
    feed = Feed(
        source_id=source.id,
        url=stored_url,
        site_url=parsed.site_url,
        title=parsed.title,
        interval_seconds=settings.devopsbot_poll_interval,
        etag=result.etag,
        last_modified=result.last_modified,
        last_checked_at=now,
        last_success_at=now,
        next_check_at=now + _next_interval(feed_interval(settings), parsed, result),
    )
    session.add(feed)
    session.flush()
    stored = store_feed_entries(session, source, parsed)
    return feed, stored.new


def feed_interval(settings: Settings) -> timedelta:
    """The default time between two polls of a feed."""
    return timedelta(seconds=settings.devopsbot_poll_interval)


def _next_interval(base: timedelta, parsed: ParsedFeed | None, result: FetchResult) -> timedelta:
    """Honour the feed's <ttl> and Cache-Control within sane bounds, plus up to 10% jitter."""
    interval = base
    hints = [parsed.ttl_seconds if parsed else None, result.cache_max_age]
    for hint in hints:
        if hint:
            interval = max(interval, timedelta(seconds=hint))
    interval = min(max(interval, MIN_INTERVAL), MAX_INTERVAL)
    return interval + interval * random.uniform(0, 0.1)


def backoff(failures: int, base: timedelta, retry_after: float | None = None) -> timedelta:
    """Exponential backoff from the feed's interval, capped; Retry-After wins when longer."""
    delay = min(base * (2 ** max(failures - 1, 0)), MAX_BACKOFF)
    if retry_after:
        delay = max(delay, min(timedelta(seconds=retry_after), MAX_INTERVAL))
    return delay


def refresh_feed(
    session: Session,
    feed: Feed,
    settings: Settings,
    http: httpx.Client | None = None,
    now: datetime | None = None,
) -> PollOutcome:
    """Poll one feed: conditional GET, parse, store new and edited entries, plan the next poll."""
    now = now or utcnow()
    outcome = PollOutcome(feed.id, feed.url, feed.title, "updated")
    feed.last_checked_at = now
    base = timedelta(seconds=feed.interval_seconds)
    try:
        result = _download(feed.url, settings, http, feed)
        if result.permanent_url and result.permanent_url != feed.url:
            _move(session, feed, result.permanent_url)
        parsed = None
        if result.not_modified:
            outcome.status = "not_modified"
        else:
            parsed = parse_feed(result.body, result.final_url)
            source = session.get(Source, feed.source_id)
            assert source is not None
            stored = store_feed_entries(session, source, parsed)
            outcome.new_articles = stored.new
            outcome.edited = len(stored.edited)
            feed.title = parsed.title or feed.title
            feed.site_url = parsed.site_url or feed.site_url
        feed.etag = result.etag
        feed.last_modified = result.last_modified
        feed.last_success_at = now
        feed.last_error = None
        feed.consecutive_failures = 0
        feed.first_failure_at = None
        feed.next_check_at = now + _next_interval(base, parsed, result)
    except (FetchError, FeedParseError) as exc:
        message = exc.message if isinstance(exc, FetchError) else str(exc)
        outcome.status = "error"
        outcome.error = message
        feed.last_error = message
        feed.consecutive_failures += 1
        feed.first_failure_at = feed.first_failure_at or now
        retry_after = exc.retry_after if isinstance(exc, FetchError) else None
        feed.next_check_at = now + backoff(feed.consecutive_failures, base, retry_after)
        if isinstance(exc, FetchError) and exc.status == 410:
            feed.status = "gone"
            feed.status_reason = message
            outcome.status = "gone"
        log.warning("feed %s: %s", feed.url, message)
    feed.claimed_until = None
    return outcome


def _move(session: Session, feed: Feed, new_url: str) -> None:
    """A permanent redirect: store the new URL unless another feed already has it."""
    if session.scalar(select(Feed.id).where(Feed.url == new_url, Feed.id != feed.id)) is None:
        log.info("feed moved permanently: %s -> %s", feed.url, new_url)
        feed.url = new_url


def due_feeds(session: Session, now: datetime | None = None, limit: int = 1000) -> list[Feed]:
    """Active feeds whose next check is due, oldest first."""
    now = now or utcnow()
    return list(
        session.scalars(
            select(Feed)
            .where(Feed.status == "active", Feed.next_check_at <= now)
            .order_by(Feed.next_check_at)
            .limit(limit)
        )
    )
