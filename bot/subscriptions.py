"""Feed subscriptions: the service the CLI and the Slack commands call. Callers own the session.

A subscription announces one feed into one Slack channel; `channel_id=None` is an index-only
subscription (the feed's articles are answered from, never posted). Subscribing marks what the
feed holds now as seen, so nothing floods the channel; `backfill=N` owes its newest N posts.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.db.models import Article, Feed, Source, Subscription, utcnow
from bot.db.outbox import aware, enqueue_backfill
from bot.db.store import feed_by_url
from bot.delivery_log import DeliveryStatus, delivery_statuses
from bot.digests import collected_counts
from bot.feeds.filters import FilterError, article_filter, compile_filters, dump_specs, load_specs
from bot.feeds.refresh import FeedError, add_feed, make_due
from bot.schedules import ScheduleError, parse_schedule, parse_thread, stored_schedule

MAX_BACKFILL = 50
# Public, private and shared channel ids (C…, G…) and DMs (D…), as Slack sends them.
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,31}$")
_SLACK_LINK = re.compile(r"^<([^|>]+)(?:\|[^>]*)?>$")


class SubscriptionError(Exception):
    """A subscription request cannot be done; the message is a sentence fit for the user."""


@dataclass(frozen=True)
class SubscriptionView:
    """One subscription with its feed's health, as shown by `feeds list` and App Home."""

    id: int
    feed_id: int
    feed_url: str
    feed_title: str
    channel_id: str | None
    status: str  # active | paused | broken | gone (the feed's own pause/410 shows here too)
    status_reason: str | None
    last_success_at: datetime | None
    last_error: str | None
    consecutive_failures: int
    next_check_at: datetime | None
    articles_seen: int
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    unfurl: bool = False
    site_url: str | None = None  # the feed's web site, where its name links to
    delivery: DeliveryStatus | None = None  # channel subscriptions: what is waiting and why
    digest: str | None = None  # a digest schedule (bot.schedules), as stored
    thread: str | None = None  # a thread mode (`daily Europe/Berlin`), as stored
    collected: int = 0  # entries collected for the next digest
    next_digest_at: datetime | None = None  # when the next digest is due (UTC)


@dataclass(frozen=True)
class SubscribeResult:
    """What subscribing did: the subscription, whether it is new, posts owed, articles stored."""

    subscription: SubscriptionView
    created: bool
    backfilled: int
    articles_indexed: int
    discovered_from: str | None = None  # the HTML page given instead of the feed's address


@dataclass(frozen=True)
class ImportedFeed:
    """One feed of an OPML import: the subscription made, or why it was not."""

    url: str
    title: str
    result: SubscribeResult | None
    error: str | None


# -- helpers -----------------------------------------------------------------------------------


def _clean_url(url: str) -> str:
    """Strip whitespace and Slack's `<url|label>` wrapping."""
    url = (url or "").strip()
    match = _SLACK_LINK.match(url)
    return match.group(1).strip() if match else url


def valid_channel_id(channel_id: str | None) -> str | None:
    """The channel id stripped (None for none); a SubscriptionError when it is not an id."""
    if channel_id is None or not channel_id.strip():
        return None
    channel_id = channel_id.strip()
    if not _CHANNEL_ID.match(channel_id):
        raise SubscriptionError(
            f"{channel_id!r} is not a Slack channel ID. Use the ID (like C0123ABCD), not the "
            "name: it is at the bottom of the channel's details in Slack."
        )
    return channel_id


def _status(sub: Subscription, feed: Feed) -> tuple[str, str | None]:
    if sub.status != "active":
        return sub.status, sub.status_reason
    if feed.status == "gone":
        return "gone", feed.status_reason
    if feed.status == "paused":
        return "paused", feed.status_reason
    return "active", None


def _views(session: Session, subs: Sequence[Subscription]) -> list[SubscriptionView]:
    if not subs:
        return []
    feeds = {
        f.id: f for f in session.scalars(select(Feed).where(Feed.id.in_({s.feed_id for s in subs})))
    }
    counts = dict(
        session.execute(
            select(Article.source_id, func.count())
            .where(Article.source_id.in_({f.source_id for f in feeds.values()}))
            .group_by(Article.source_id)
        ).all()
    )
    now = utcnow()
    deliveries = delivery_statuses(session, [s.id for s in subs if s.channel_id], now)
    collected = collected_counts(session, [s.id for s in subs])
    views = []
    for sub in subs:
        feed = feeds[sub.feed_id]
        status, reason = _status(sub, feed)
        schedule = stored_schedule(sub.digest)
        views.append(
            SubscriptionView(
                id=sub.id,
                feed_id=feed.id,
                feed_url=feed.url,
                feed_title=feed.title or feed.url,
                channel_id=sub.channel_id,
                status=status,
                status_reason=reason,
                last_success_at=aware(feed.last_success_at),
                last_error=feed.last_error,
                consecutive_failures=feed.consecutive_failures,
                next_check_at=aware(feed.next_check_at) if feed.status == "active" else None,
                articles_seen=int(counts.get(feed.source_id, 0)),
                include=tuple(load_specs(sub.include_filters)),
                exclude=tuple(load_specs(sub.exclude_filters)),
                unfurl=bool(sub.unfurl),
                site_url=feed.site_url,
                delivery=deliveries.get(sub.id),
                digest=sub.digest,
                thread=sub.thread,
                collected=collected.get(sub.id, 0),
                next_digest_at=schedule.next_due(now).astimezone(UTC) if schedule else None,
            )
        )
    return views


def _post_mode(
    digest: str | None, thread: str | None, default_tz: str
) -> tuple[str | None, str | None]:
    """(digest, thread) as stored from what a user gave (None: unchanged; "" or "off": off);
    a SubscriptionError naming the accepted forms when one cannot be read."""
    try:
        schedule = parse_schedule(digest, default_tz) if digest is not None else None
        mode = parse_thread(thread, default_tz) if thread is not None else None
    except ScheduleError as exc:
        raise SubscriptionError(str(exc)) from None
    if schedule is not None and mode is not None:
        raise SubscriptionError(
            "A subscription posts either a digest or a thread per day, not both: give one."
        )
    return (schedule.spec if schedule else None), mode


def _apply_post_mode(
    sub: Subscription, digest: str | None, thread: str | None, default_tz: str
) -> None:
    """Set the digest and thread mode the user asked for; turning one on turns the other off."""
    new_digest, new_thread = _post_mode(digest, thread, default_tz)
    if digest is not None:
        sub.digest = new_digest
        if new_digest is not None:
            sub.thread = None
    if thread is not None:
        sub.thread = new_thread
        if new_thread is not None:
            sub.digest = None


def _view(session: Session, sub: Subscription) -> SubscriptionView:
    return _views(session, [sub])[0]


def resolve(session: Session, ref: str, channel_id: str | None = None) -> list[Subscription]:
    """Subscriptions named by a subscription id, a feed id or a feed URL (in `channel_id`)."""
    return _resolve(session, ref, channel_id)


def _resolve(session: Session, ref: str, channel_id: str | None) -> list[Subscription]:
    """Subscriptions named by a subscription id, a feed id or a feed URL (in that order)."""
    ref = _clean_url(ref)
    channel_id = valid_channel_id(channel_id)
    if not ref:
        raise SubscriptionError("Say which feed: its URL, or its id from `feeds list`.")
    query = select(Subscription).order_by(Subscription.id)
    if channel_id is not None:
        query = query.where(Subscription.channel_id == channel_id)
    feed: Feed | None = None
    if ref.isdigit():
        sub = session.scalar(query.where(Subscription.id == int(ref)))
        if sub is not None:
            return [sub]
        feed = session.get(Feed, int(ref))
        if feed is None:
            raise SubscriptionError(f"There is no subscription or feed with id {ref}.")
    else:
        feed = feed_by_url(session, ref)
        if feed is None:
            raise SubscriptionError(
                f"No feed with the address {ref} is subscribed; `feeds list` shows them."
            )
    subs = list(session.scalars(query.where(Subscription.feed_id == feed.id)))
    if not subs:
        where = "this channel" if channel_id else "anywhere"
        raise SubscriptionError(f"{feed.title or feed.url} is not subscribed in {where}.")
    return subs


def _resume_feed(feed: Feed) -> None:
    if feed.status != "active":
        feed.status = "active"
        feed.status_reason = None
        feed.consecutive_failures = 0
        feed.first_failure_at = None
        feed.claimed_until = None
        feed.next_check_at = utcnow()


# -- the service -------------------------------------------------------------------------------


def subscribe(
    session: Session,
    url: str,
    channel_id: str | None,
    settings: Settings,
    *,
    http: httpx.Client | None = None,
    backfill: int = 0,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    unfurl: bool = False,
    created_by: str | None = None,
    digest: str | None = None,
    thread: str | None = None,
) -> SubscribeResult:
    """Subscribe `channel_id` (None: index only) to the feed at `url`, fetching it if new.

    Everything the feed holds now counts as seen; `backfill` owes its newest N posts (oldest
    first). `digest` (a schedule such as `daily@09:00`) collects new entries into one message
    on schedule; `thread` (`daily`) posts them as replies under a parent per day; a schedule
    without a zone is read in DEVOPSBOT_TIMEZONE. Subscribing again is harmless: the existing
    subscription is returned (and reactivated if it was paused or broken) with created=False.
    """
    url = _clean_url(url)
    channel_id = valid_channel_id(channel_id)
    if not url:
        raise SubscriptionError("Give the feed's URL, like https://example.com/feed.xml.")
    if not 0 <= backfill <= MAX_BACKFILL:
        raise SubscriptionError(f"Backfill must be between 0 and {MAX_BACKFILL} posts.")
    if channel_id is None and (backfill or include or exclude):
        raise SubscriptionError(
            "Backfill and filters decide what is posted to a channel; give a channel too."
        )
    try:
        compile_filters(include)
        compile_filters(exclude)
    except FilterError as exc:
        raise SubscriptionError(f"Bad filter: {exc}.") from None
    new_digest, new_thread = _post_mode(digest, thread, settings.devopsbot_timezone)
    if channel_id is None and (new_digest or new_thread):
        raise SubscriptionError(
            "Digests and threads decide how posts go to a channel; give a channel too."
        )

    try:
        feed, new, page = add_feed(session, url, settings, http)
    except FeedError as exc:
        raise SubscriptionError(str(exc)) from None
    indexed = len(new)

    query = select(Subscription).where(Subscription.feed_id == feed.id)
    if channel_id is not None:
        query = query.where(Subscription.channel_id == channel_id)
    existing = session.scalar(query.order_by(Subscription.id))
    if existing is not None:
        if channel_id is not None and existing.status != "active":
            existing.status, existing.status_reason = "active", None
        session.flush()
        return SubscribeResult(_view(session, existing), False, 0, indexed, page)

    sub = Subscription(
        feed_id=feed.id,
        channel_id=channel_id,
        status="active",
        backfill=backfill,
        include_filters=dump_specs(include),
        exclude_filters=dump_specs(exclude),
        unfurl=unfurl,
        created_by=created_by,
        digest=new_digest,
        thread=new_thread,
    )
    session.add(sub)
    session.flush()
    backfilled = enqueue_backfill(session, sub, feed.source_id, backfill, article_filter)
    return SubscribeResult(_view(session, sub), True, backfilled, indexed, page)


def unsubscribe(session: Session, ref: str, channel_id: str | None = None) -> SubscriptionView:
    """Remove the subscription(s) `ref` names (in `channel_id` when given).

    A feed left without subscriptions is removed with its articles (it leaves the index too).
    Returns the first removed subscription as it was.
    """
    subs = _resolve(session, ref, channel_id)
    views = _views(session, subs)
    feed_ids = {s.feed_id for s in subs}
    session.execute(delete(Subscription).where(Subscription.id.in_([s.id for s in subs])))
    for feed_id in feed_ids:
        left = session.scalar(
            select(func.count()).select_from(Subscription).where(Subscription.feed_id == feed_id)
        )
        if not left:
            source_id = session.scalar(select(Feed.source_id).where(Feed.id == feed_id))
            session.execute(delete(Source).where(Source.id == source_id))
    session.expire_all()
    return views[0]


def get_subscription(session: Session, sub_id: int) -> SubscriptionView:
    """One subscription by id, with its feed's health."""
    sub = session.get(Subscription, sub_id)
    if sub is None:
        raise SubscriptionError(f"There is no subscription with id {sub_id} (any more).")
    return _view(session, sub)


def list_subscriptions(session: Session, channel_id: str | None = None) -> list[SubscriptionView]:
    """Subscriptions with their feed's health; all of them, or one channel's."""
    query = select(Subscription).join(Feed, Feed.id == Subscription.feed_id)
    if channel_id is not None:
        query = query.where(Subscription.channel_id == valid_channel_id(channel_id))
    subs = session.scalars(
        query.order_by(func.lower(Feed.title), Subscription.channel_id, Subscription.id)
    ).all()
    return _views(session, subs)


def pause(session: Session, ref: str, channel_id: str | None = None) -> SubscriptionView:
    """Stop announcing (every subscription of the feed when `ref` is a URL and no channel is
    given). The feed is still polled and indexed: what arrives meanwhile counts as seen, so
    resuming never floods the channel."""
    subs = _resolve(session, ref, channel_id)
    for sub in subs:
        if sub.status != "paused":
            sub.status = "paused"
            sub.status_reason = "announcements paused on request; resume to post new entries again"
    session.flush()
    return _view(session, subs[0])


def resume(session: Session, ref: str, channel_id: str | None = None) -> SubscriptionView:
    """Announce again; also reactivates a feed paused after failures (or gone) and checks it
    soon. Posts a broken subscription still owed go out on the next delivery run."""
    subs = _resolve(session, ref, channel_id)
    for sub in subs:
        sub.status, sub.status_reason = "active", None
        feed = session.get(Feed, sub.feed_id)
        if feed is not None:
            _resume_feed(feed)
    session.flush()
    return _view(session, subs[0])


def change_subscription(
    session: Session,
    ref: str,
    channel_id: str | None = None,
    *,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    unfurl: bool | None = None,
    digest: str | None = None,
    thread: str | None = None,
    default_tz: str = "UTC",
) -> list[SubscriptionView]:
    """Change the subscription(s) `ref` names in place (in `channel_id` when given): filters
    given replace the old ones (an empty list clears them), None leaves a setting as it is.
    `digest` / `thread` set the digest schedule or thread mode ("off" turns it off; a schedule
    without a zone is read in `default_tz`). The feed, its articles and what counts as seen
    are kept; entries a digest collected go out with the next digest (at once when the digest
    is turned off)."""
    for specs in (include, exclude):
        try:
            compile_filters(specs or ())
        except FilterError as exc:
            raise SubscriptionError(f"Bad filter: {exc}.") from None
    new_digest, new_thread = _post_mode(digest, thread, default_tz)  # errors before any change
    subs = _resolve(session, ref, channel_id)
    if (include or exclude) and any(s.channel_id is None for s in subs):
        raise SubscriptionError(
            "Filters decide what is posted to a channel; this feed is only indexed. Subscribe a "
            "channel first."
        )
    if (new_digest or new_thread) and any(s.channel_id is None for s in subs):
        raise SubscriptionError(
            "Digests and threads decide how posts go to a channel; this feed is only indexed. "
            "Subscribe a channel first."
        )
    for sub in subs:
        _apply_post_mode(sub, digest, thread, default_tz)
        if include is not None:
            sub.include_filters = dump_specs(include)
        if exclude is not None:
            sub.exclude_filters = dump_specs(exclude)
        if unfurl is not None:
            sub.unfurl = unfurl
    session.flush()
    return _views(session, subs)


CHANNEL_ACTIONS = ("unsubscribe", "pause", "resume")


def change_channel(session: Session, action: str, channel_id: str) -> list[SubscriptionView]:
    """Unsubscribe, pause or resume every subscription of one channel; returns them as they
    were before (none: the channel has no subscription)."""
    channel_id = valid_channel_id(channel_id) or ""
    if action not in CHANNEL_ACTIONS or not channel_id:
        raise SubscriptionError("Say which channel, and unsubscribe, pause or resume.")
    subs = session.scalars(
        select(Subscription).where(Subscription.channel_id == channel_id).order_by(Subscription.id)
    ).all()
    views = _views(session, subs)
    verb = {"unsubscribe": unsubscribe, "pause": pause, "resume": resume}[action]
    for sub_id in [s.id for s in subs]:  # ids first: unsubscribing expires the loaded rows
        verb(session, str(sub_id))
    return views


def resume_broken(session: Session) -> list[SubscriptionView]:
    """Resume every broken subscription (after fixing the token or re-inviting the bot)."""
    subs = session.scalars(select(Subscription).where(Subscription.status == "broken")).all()
    for sub in subs:
        sub.status, sub.status_reason = "active", None
    session.flush()
    return _views(session, subs)


def poll_now(session: Session, ref: str | None = None) -> int:
    """Make every active feed, or the one `ref` names (URL or id), due now; returns how many.

    A paused or gone feed named on its own is an error saying how to bring it back.
    """
    now = utcnow()
    if ref is None:
        return make_due(session, now)
    feed = session.get(Feed, _resolve(session, ref, None)[0].feed_id)
    if feed is None or feed.status != "active":
        state = feed.status if feed is not None else "removed"
        raise SubscriptionError(
            f"That feed is {state}; `devopsbot feeds resume {ref}` polls it again."
        )
    return make_due(session, now, feed.id)


# -- OPML --------------------------------------------------------------------------------------

# Subscription settings ride on each outline as attributes in our own namespace: other readers
# ignore them, and an export imported into an empty store restores every subscription as it was.
OPML_NS = "urn:devopsbot:opml:1"
_NS = f"{{{OPML_NS}}}"
ET.register_namespace("devopsbot", OPML_NS)


@dataclass(frozen=True)
class Outline:
    """One feed outline of an OPML file, with the subscription settings it carries (if any)."""

    url: str
    title: str
    channel_id: str | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    paused: bool = False
    unfurl: bool = False
    digest: str | None = None
    thread: str | None = None


def _specs(value: str | None) -> tuple[str, ...]:
    return tuple(load_specs(value)) if value else ()


def _opml_outlines(data: bytes) -> list[Outline]:
    if b"<!ENTITY" in data:
        raise SubscriptionError("The OPML file declares XML entities, which are not accepted.")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise SubscriptionError(f"That is not a readable OPML file ({exc}).") from None
    if root.tag.lower() != "opml":
        raise SubscriptionError(f"That is not an OPML file (its root element is <{root.tag}>).")
    found: dict[tuple[str, str | None], Outline] = {}
    for outline in root.iter("outline"):
        attrs = {k.lower(): v for k, v in outline.attrib.items() if not k.startswith(_NS)}
        ours = {k[len(_NS) :]: v for k, v in outline.attrib.items() if k.startswith(_NS)}
        url = (attrs.get("xmlurl") or "").strip()
        channel = (ours.get("channel") or "").strip() or None
        if url and (url, channel) not in found:
            found[(url, channel)] = Outline(
                url=url,
                title=(attrs.get("title") or attrs.get("text") or "").strip(),
                channel_id=channel,
                include=_specs(ours.get("include")),
                exclude=_specs(ours.get("exclude")),
                paused=ours.get("paused") == "true",
                unfurl=ours.get("unfurl") == "true",
                digest=(ours.get("digest") or "").strip() or None,
                thread=(ours.get("thread") or "").strip() or None,
            )
    return list(found.values())


def import_opml(
    session: Session,
    data: bytes,
    settings: Settings,
    channel_id: str | None = None,
    http: httpx.Client | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    channel_check: Callable[[str], str | None] | None = None,
) -> list[ImportedFeed]:
    """Subscribe every feed of an OPML file; one bad feed does not stop the others.

    Outlines written by `export_opml` restore their channel, filters, unfurl, digest or thread
    mode and paused state (an unreadable schedule skips its outline, saying why);
    `channel_id` sends every feed to that channel instead; plain outlines (other readers'
    files) without it are index-only. `progress(done, total, url)` is told before each feed.
    `channel_check(channel)` is asked once per channel whether the bot can post there (None:
    yes; else why not): the outlines of a refused channel are skipped with that reason.
    """
    channel_id = valid_channel_id(channel_id)
    outlines = _opml_outlines(data)
    if not outlines:
        raise SubscriptionError("The OPML file lists no feeds (no outline has an xmlUrl).")
    imported = []
    problems: dict[str, str | None] = {}
    for done, item in enumerate(outlines):
        if progress is not None:
            progress(done, len(outlines), item.url)
        try:
            target = valid_channel_id(channel_id or item.channel_id)
            if target is not None and channel_check is not None:
                if target not in problems:
                    problems[target] = channel_check(target)
                if problems[target]:
                    raise SubscriptionError(problems[target] or "")
            result = subscribe(
                session,
                item.url,
                target,
                settings,
                http=http,
                include=item.include,
                exclude=item.exclude,
                unfurl=item.unfurl,
                digest=item.digest if target else None,
                thread=item.thread if target else None,
            )
            if item.paused and result.created:
                result = SubscribeResult(
                    pause(session, str(result.subscription.id)),
                    result.created,
                    result.backfilled,
                    result.articles_indexed,
                )
        except SubscriptionError as exc:
            imported.append(ImportedFeed(item.url, item.title, None, str(exc)))
        else:
            imported.append(ImportedFeed(item.url, result.subscription.feed_title, result, None))
    if progress is not None:
        progress(len(outlines), len(outlines), "")
    return imported


def export_opml(session: Session) -> str:
    """Every feed as an OPML 2.0 document: one outline per subscription (titles, feed and site
    URLs, plus its channel, filters, unfurl, digest or thread mode and paused state in the
    devopsbot namespace)."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = "devopsbot feeds"
    ET.SubElement(head, "dateCreated").text = datetime.now(UTC).strftime(
        "%a, %d %b %Y %H:%M:%S GMT"
    )
    body = ET.SubElement(root, "body")
    for feed in session.scalars(select(Feed).order_by(func.lower(Feed.title), Feed.url)):
        base = {"type": "rss", "text": feed.title or feed.url, "title": feed.title or feed.url}
        base["xmlUrl"] = feed.url
        if feed.site_url:
            base["htmlUrl"] = feed.site_url
        subs = session.scalars(
            select(Subscription).where(Subscription.feed_id == feed.id).order_by(Subscription.id)
        ).all()
        for sub in subs or [None]:
            attrs = dict(base)
            if sub is not None and sub.channel_id:
                attrs[_NS + "channel"] = sub.channel_id
                if load_specs(sub.include_filters):
                    attrs[_NS + "include"] = sub.include_filters or "[]"
                if load_specs(sub.exclude_filters):
                    attrs[_NS + "exclude"] = sub.exclude_filters or "[]"
                if sub.unfurl:
                    attrs[_NS + "unfurl"] = "true"
                if sub.digest:
                    attrs[_NS + "digest"] = sub.digest
                if sub.thread:
                    attrs[_NS + "thread"] = sub.thread
                if sub.status == "paused":
                    attrs[_NS + "paused"] = "true"
            if attrs == base and any(o.attrib == base for o in body):
                continue  # one plain outline per feed is enough
            ET.SubElement(body, "outline", attrs)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
