"""The feed pipeline, one orchestrator: claim → fetch → parse → store → owe posts → reschedule.

Stages never call each other; this module is the only one that knows all of them. Network and
parsing run outside any database transaction, so a slow feed never holds a lock or connection.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from bot.config import Settings
from bot.db.models import Article, Feed, Source, utcnow
from bot.db.outbox import aware, enqueue_articles, enqueue_notice, notice_payload
from bot.db.sql import dialect_name
from bot.db.store import feed_by_url, get_or_create_source
from bot.feeds.discover import advertised_feeds, looks_like_html
from bot.feeds.fetch import FetchError, FetchResult, check_url_allowed, fetch_feed
from bot.feeds.filters import article_filter
from bot.feeds.ingest import store_parsed_feed
from bot.feeds.parse import FeedParseError, ParsedFeed, parse_feed
from bot.plaintext import stored_line

log = logging.getLogger(__name__)

# How far a feed's own <ttl> or Cache-Control may stretch its interval (never below the
# configured one, which DEVOPSBOT_POLL_INTERVAL bounds to 60 s – 7 days).
MAX_INTERVAL = timedelta(hours=24)
MAX_BACKOFF = timedelta(hours=6)
INTERNAL_ERROR = "an internal error stopped this poll (details are in the bot's log); will retry."


class FeedError(Exception):
    """A feed could not be added or refreshed; the message tells the user what to do."""


@dataclass
class PollOutcome:
    """What one poll of one feed did."""

    feed_id: int
    url: str
    title: str
    status: str  # "updated" | "not_modified" | "error" | "gone" | "paused"
    new_articles: list[Article] = field(default_factory=list)
    edited: int = 0
    rewritten: int = 0  # stored entries found again by their link after a guid rewrite
    error: str | None = None
    queued: int = 0  # posts now owed to channels
    moved_from: str | None = None


@dataclass(frozen=True)
class FeedSnapshot:
    """What a fetch needs to know about a feed, read in a short transaction."""

    id: int
    url: str
    etag: str | None
    last_modified: str | None


@dataclass
class Fetched:
    """The outcome of the network and parse stages, before anything is stored."""

    snapshot: FeedSnapshot
    result: FetchResult | None = None
    parsed: ParsedFeed | None = None
    error: FetchError | FeedParseError | None = None


# -- schedule ----------------------------------------------------------------------------------


def feed_interval(settings: Settings) -> timedelta:
    """The default time between two polls of a feed."""
    return timedelta(seconds=settings.devopsbot_poll_interval)


def _next_interval(base: timedelta, parsed: ParsedFeed | None, result: FetchResult) -> timedelta:
    """The configured interval, stretched by the feed's <ttl> and Cache-Control up to a day
    (or up to the configured interval if that is longer), plus up to 10% jitter."""
    interval = base
    hints = [parsed.ttl_seconds if parsed else None, result.cache_max_age]
    for hint in hints:
        if hint:
            interval = max(interval, min(timedelta(seconds=hint), max(base, MAX_INTERVAL)))
    return interval + interval * random.uniform(0, 0.1)


def backoff(failures: int, base: timedelta, retry_after: float | None = None) -> timedelta:
    """Exponential backoff from the feed's interval, capped; Retry-After wins when longer."""
    delay = min(base * (2 ** max(failures - 1, 0)), MAX_BACKOFF)
    if retry_after:
        delay = max(delay, min(timedelta(seconds=retry_after), MAX_INTERVAL))
    return delay


# -- stages without a database -----------------------------------------------------------------


def _download(
    url: str, settings: Settings, http: httpx.Client | None, snapshot: FeedSnapshot | None = None
) -> FetchResult:
    return fetch_feed(
        url,
        etag=snapshot.etag if snapshot else None,
        last_modified=snapshot.last_modified if snapshot else None,
        timeout=settings.devopsbot_http_timeout,
        max_bytes=settings.devopsbot_max_feed_bytes,
        allow_private=settings.devopsbot_allow_private_urls,
        client=http,
    )


def fetch_and_parse(
    snapshot: FeedSnapshot, settings: Settings, http: httpx.Client | None = None
) -> Fetched:
    """Conditional GET and parse; a 304 costs no parsing. Errors are returned, not raised."""
    fetched = Fetched(snapshot)
    try:
        fetched.result = _download(snapshot.url, settings, http, snapshot)
        if not fetched.result.not_modified:
            fetched.parsed = parse_feed(fetched.result.body, fetched.result.final_url)
    except (FetchError, FeedParseError) as exc:
        fetched.error = exc
    return fetched


@dataclass(frozen=True)
class NewFeed:
    """A feed fetched for the first time: its address, what it returned, and the HTML page that
    advertised it when the user gave a page rather than a feed."""

    url: str
    result: FetchResult
    parsed: ParsedFeed
    discovered_from: str | None = None


def download_new_feed(url: str, settings: Settings, http: httpx.Client | None = None) -> NewFeed:
    """Fetch and parse a feed we do not have yet, following an HTML page's advertised feed link;
    raises FeedError with a readable message."""
    try:
        check_url_allowed(url, settings.devopsbot_allow_private_urls)
        result = _download(url, settings, http)
        try:
            return NewFeed(url, result, parse_feed(result.body, result.final_url))
        except FeedParseError:
            if not looks_like_html(result.body, result.content_type):
                raise
        links = advertised_feeds(result.body, result.final_url)
        if not links:
            raise FeedError(
                f"{url} is an HTML page that advertises no feed: use the address of its "
                "RSS/Atom link."
            )
        # One hop only: an advertised "feed" that is another page is not followed further.
        check_url_allowed(links[0], settings.devopsbot_allow_private_urls)
        found = _download(links[0], settings, http)
        return NewFeed(links[0], found, parse_feed(found.body, found.final_url), url)
    except FetchError as exc:
        raise FeedError(exc.message) from None
    except FeedParseError as exc:
        raise FeedError(str(exc)) from None


def create_feed(
    session: Session,
    url: str,
    result: FetchResult,
    parsed: ParsedFeed,
    settings: Settings,
    now: datetime | None = None,
) -> tuple[Feed, list[Article]]:
    """Store a freshly fetched feed and everything it holds now (all of it counts as seen)."""
    now = now or utcnow()
    stored_url = result.permanent_url or url
    source = get_or_create_source(session, "feed", stored_url, parsed.title)
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
        consecutive_failures=0,
        next_check_at=now + _next_interval(feed_interval(settings), parsed, result),
    )
    session.add(feed)
    session.flush()
    stored = store_parsed_feed(session, source, parsed)
    return feed, stored.new


def add_feed(
    session: Session, url: str, settings: Settings, http: httpx.Client | None = None
) -> tuple[Feed, list[Article], str | None]:
    """The feed at `url` (or the one the HTML page at `url` advertises), fetched and stored with
    its current entries when new (nothing on error).

    Returns the feed, the articles stored now (none for a feed we already had), and the page it
    was discovered from (None when `url` is the feed itself).
    """
    url = url.strip()
    existing = feed_by_url(session, url)
    if existing is not None:
        return existing, [], None
    new = download_new_feed(url, settings, http)
    for known in (new.url if new.discovered_from else None, new.result.permanent_url):
        found = feed_by_url(session, known) if known else None
        if found is not None:
            return found, [], new.discovered_from
    feed, articles = create_feed(session, new.url, new.result, new.parsed, settings)
    return feed, articles, new.discovered_from


def _pause_notice(feed: Feed, since: datetime, error: str) -> str:
    return notice_payload(
        "paused",
        feed=stored_line(feed.title or feed.url, 150),
        url=feed.url,
        since=f"{since:%Y-%m-%d %H:%M}",
        attempts=feed.consecutive_failures,
        error=error,
    )


def _gone_notice(feed: Feed) -> str:
    return notice_payload("gone", feed=stored_line(feed.title or feed.url, 150), url=feed.url)


def apply_fetch(
    session: Session, feed: Feed, fetched: Fetched, settings: Settings, now: datetime
) -> PollOutcome:
    """Store what a fetch brought, owe new entries to channels, and plan the next poll."""
    outcome = PollOutcome(feed.id, feed.url, feed.title, "updated")
    feed.last_checked_at = now
    base = timedelta(seconds=feed.interval_seconds)
    result, parsed, error = fetched.result, fetched.parsed, fetched.error
    if error is None and result is not None:
        if result.permanent_url and result.permanent_url != feed.url:
            outcome.moved_from = feed.url
            _move(session, feed, result.permanent_url)
            outcome.url = feed.url
        if parsed is None:
            outcome.status = "not_modified"
        else:
            source = session.get(Source, feed.source_id)
            assert source is not None
            stored = store_parsed_feed(session, source, parsed)
            outcome.new_articles = stored.new
            outcome.edited = len(stored.edited)
            outcome.rewritten = len(stored.rewritten)
            feed.title = parsed.title or feed.title
            feed.site_url = parsed.site_url or feed.site_url
            outcome.title = feed.title
            outcome.queued = enqueue_articles(session, feed.id, stored.new, now, article_filter)
        feed.etag = result.etag
        feed.last_modified = result.last_modified
        feed.last_success_at = now
        feed.last_error = None
        feed.consecutive_failures = 0
        feed.first_failure_at = None
        feed.next_check_at = now + _next_interval(base, parsed, result)
    else:
        assert error is not None
        message = error.message if isinstance(error, FetchError) else str(error)
        retry_after = error.retry_after if isinstance(error, FetchError) else None
        _record_failure(session, feed, message, settings, now, retry_after, outcome)
        if isinstance(error, FetchError) and error.status == 410:
            feed.status = "gone"
            feed.status_reason = message
            outcome.status = "gone"
            enqueue_notice(
                session, feed.id, "gone", _notice_key("gone", feed), _gone_notice(feed), now
            )
    feed.claimed_until = None
    return outcome


def _notice_key(kind: str, feed: Feed) -> str:
    since = aware(feed.first_failure_at)
    return f"{kind}:{feed.id}:{since:%Y%m%dT%H%M%S}" if since else f"{kind}:{feed.id}"


def _record_failure(
    session: Session,
    feed: Feed,
    message: str,
    settings: Settings,
    now: datetime,
    retry_after: float | None,
    outcome: PollOutcome,
) -> None:
    """Count the failure, back off, and pause the feed (telling its channels once) when it has
    been failing for longer than DEVOPSBOT_PAUSE_AFTER."""
    outcome.status = "error"
    outcome.error = message
    feed.last_error = message
    feed.consecutive_failures += 1
    feed.first_failure_at = aware(feed.first_failure_at) or now
    base = timedelta(seconds=feed.interval_seconds)
    feed.next_check_at = now + backoff(feed.consecutive_failures, base, retry_after)
    since = feed.first_failure_at
    if feed.status == "active" and now - since >= timedelta(seconds=settings.devopsbot_pause_after):
        feed.status = "paused"
        feed.status_reason = (
            f"paused after failing since {since:%Y-%m-%d %H:%M} UTC "
            f"({feed.consecutive_failures} attempts); last error: {message}"
        )
        outcome.status = "paused"
        enqueue_notice(
            session,
            feed.id,
            "paused",
            _notice_key("paused", feed),
            _pause_notice(feed, since, message),
            now,
        )
    log.warning("feed %s: %s", feed.url, message)


def _move(session: Session, feed: Feed, new_url: str) -> None:
    """A permanent redirect: store the new URL unless another feed already has it."""
    if session.scalar(select(Feed.id).where(Feed.url == new_url, Feed.id != feed.id)) is None:
        log.info("feed moved permanently: %s -> %s", feed.url, new_url)
        feed.url = new_url


# -- claiming and polling due feeds ------------------------------------------------------------


def _due(model: type[Feed], now: datetime) -> object:
    return and_(
        model.status == "active",
        model.next_check_at <= now,
        or_(model.claimed_until.is_(None), model.claimed_until <= now),
    )


def make_due(session: Session, now: datetime, feed_id: int | None = None) -> int:
    """Make every active feed (or just `feed_id`) due at `now`, for polling on demand; returns
    how many. Paused and gone feeds stay as they are: `resume` is how they come back."""
    stmt = update(Feed).where(Feed.status == "active").values(next_check_at=now)
    if feed_id is not None:
        stmt = stmt.where(Feed.id == feed_id)
    return int(session.execute(stmt).rowcount or 0)  # type: ignore[attr-defined]


def claim_lease(settings: Settings) -> timedelta:
    """How long a claim on a feed holds: longer than the slowest fetch plus storing it."""
    return max(timedelta(minutes=5), timedelta(seconds=settings.devopsbot_http_timeout * 6))


def claim_due_feeds(
    session: Session, now: datetime, limit: int = 1, lease: timedelta = timedelta(minutes=5)
) -> list[FeedSnapshot]:
    """Atomically take up to `limit` due feeds for this worker (claimed_until = now + lease).

    One UPDATE … RETURNING. On PostgreSQL the candidates come from a MATERIALIZED CTE locked
    with SKIP LOCKED, so concurrent pollers take different feeds without waiting (a plain
    `IN (SELECT … LIMIT n)` may be re-run per row by the planner and claim more than n). On
    SQLite the UPDATE re-checks the claim under SQLite's single-writer lock.
    """
    candidate = aliased(Feed)
    ids = (
        select(candidate.id)
        .where(_due(candidate, now))
        .order_by(candidate.next_check_at, candidate.id)
        .limit(limit)
    )
    stmt = update(Feed).values(claimed_until=now + lease)
    if dialect_name(session) == "postgresql":
        picked = (
            ids.with_for_update(skip_locked=True, of=candidate)
            .cte("picked")
            .prefix_with("MATERIALIZED")
        )
        stmt = stmt.where(Feed.id == picked.c.id)
    else:
        stmt = stmt.where(Feed.id.in_(ids.scalar_subquery()), _due(Feed, now))
    rows = session.execute(stmt.returning(Feed.id, Feed.url, Feed.etag, Feed.last_modified)).all()
    return [FeedSnapshot(r[0], r[1], r[2], r[3]) for r in rows]


def poll_feed(
    sessions: sessionmaker[Session],
    snapshot: FeedSnapshot,
    settings: Settings,
    http: httpx.Client | None = None,
    now: datetime | None = None,
) -> PollOutcome:
    """Poll one claimed feed: network and parsing first, then one short write transaction."""
    now = now or utcnow()
    fetched = fetch_and_parse(snapshot, settings, http)
    try:
        with sessions.begin() as session:
            feed = session.get(Feed, snapshot.id)
            if feed is None:  # removed while we were fetching
                return PollOutcome(snapshot.id, snapshot.url, "", "gone", error="feed removed")
            return apply_fetch(session, feed, fetched, settings, now)
    except Exception:
        # Never let one feed stop the others; the user sees a sentence, the log has the trace.
        log.exception("feed %s: storing the poll failed", snapshot.url)
        outcome = PollOutcome(snapshot.id, snapshot.url, "", "error")
        with sessions.begin() as session:
            feed = session.get(Feed, snapshot.id)
            if feed is not None:
                outcome.title = feed.title
                _record_failure(session, feed, INTERNAL_ERROR, settings, now, None, outcome)
                feed.claimed_until = None
        return outcome


def poll_due_feeds(
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    http: httpx.Client | None = None,
    now: datetime | None = None,
    workers: int | None = None,
    on_outcome: Callable[[PollOutcome], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[PollOutcome]:
    """Claim and poll every feed due at `now`, `workers` at a time (DEVOPSBOT_POLL_WORKERS).

    Each worker claims one feed at a time, so several processes can share the work and a feed
    is polled at most once per call (its claim outlives the call unless the poll finishes).
    `should_stop` is checked between feeds (a shutting-down bot stops claiming).
    """
    now = now or utcnow()
    workers = workers or settings.devopsbot_poll_workers
    lease = claim_lease(settings)
    outcomes: list[PollOutcome] = []
    own_http = http is None
    client = http or httpx.Client(
        timeout=settings.devopsbot_http_timeout,
        follow_redirects=False,
        limits=httpx.Limits(max_connections=workers * 2, max_keepalive_connections=workers * 2),
    )

    def work() -> None:
        while should_stop is None or not should_stop():
            with sessions.begin() as session:
                claimed = claim_due_feeds(session, now, 1, lease)
            if not claimed:
                return
            for snapshot in claimed:
                outcome = poll_feed(sessions, snapshot, settings, client, now)
                outcomes.append(outcome)
                if on_outcome is not None:
                    on_outcome(outcome)

    try:
        if workers == 1:
            work()
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix="poll") as pool:
                for future in [pool.submit(work) for _ in range(workers)]:
                    future.result()
    finally:
        if own_http:
            client.close()
    return outcomes
