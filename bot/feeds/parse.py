"""Pure feed parsing: bytes in, a ParsedFeed with stable entry identities out."""

from __future__ import annotations

import calendar
import hashlib
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
import feedparser.api

_MAX_KEY = 512

# Character data coalesced before feedparser sees it: same result, half the parse time.
if "bot.feeds.sax_buffered" not in feedparser.api.PREFERRED_XML_PARSERS:
    feedparser.api.PREFERRED_XML_PARSERS.insert(0, "bot.feeds.sax_buffered")


class FeedParseError(Exception):
    """The bytes are not an RSS/Atom feed feedparser can read; the message says what it saw."""


@dataclass(frozen=True)
class ParsedEntry:
    """One feed item, with an identity that survives edits and absolute links."""

    key: str
    url: str | None
    title: str
    author: str | None
    published_at: datetime | None
    updated_at: datetime | None
    summary_html: str
    content_html: str
    tags: tuple[str, ...]
    content_hash: str


@dataclass(frozen=True)
class ParsedFeed:
    """A feed document: its title, site link, optional TTL, and entries in document order."""

    title: str
    site_url: str | None
    ttl_seconds: int | None
    entries: list[ParsedEntry] = field(default_factory=list)
    warning: str | None = None


def _timestamp(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _absolute(link: str | None, base: str) -> str | None:
    if not link:
        return None
    url = urljoin(base, link.strip())
    return url if urlsplit(url).scheme in ("http", "https") else None


def _content_html(entry: Any) -> str:
    contents = entry.get("content") or []
    html = "".join(c.get("value", "") for c in contents if c.get("value"))
    return html or entry.get("summary", "") or ""


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def _bounded(key: str) -> str:
    return key if len(key) <= _MAX_KEY else "sha256:" + _digest(key)


def parse_feed(body: bytes, feed_url: str) -> ParsedFeed:
    """Parse RSS/Atom bytes; relative links resolve against the feed's site link."""
    # No content-location: feedparser would resolve links against the feed URL, and relative
    # links belong to the site (one seed feed has `/blog/...` links).
    # No sanitizing or URI rewriting inside entry HTML: we only ever extract its text (never
    # render it), and feedparser's sanitizer is most of its parse time (issue 3 bench/poll.py).
    parsed = feedparser.parse(
        body,
        response_headers={"content-type": "application/xml"},
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    if not parsed.get("version") and not parsed.entries:
        if b"<html" in body[:2048].lower():
            raise FeedParseError(
                f"{feed_url} is an HTML page, not a feed: use the address of its RSS/Atom link"
            )
        reason = parsed.get("bozo_exception")
        detail = f" ({reason})" if reason else ""
        raise FeedParseError(f"{feed_url} is not an RSS or Atom feed{detail}")
    meta = parsed.feed
    site_url = _absolute(meta.get("link"), feed_url)
    base = site_url or feed_url
    ttl = meta.get("ttl")
    try:
        ttl_seconds = int(ttl) * 60 if ttl else None
    except ValueError:
        ttl_seconds = None

    raw: list[tuple[str, ParsedEntry]] = []
    for entry in parsed.entries:
        title = (entry.get("title") or "").strip()
        content = _content_html(entry)
        url = _absolute(entry.get("link"), base)
        guid = (entry.get("id") or "").strip()
        content_hash = _digest(title, content)
        identity = guid or url or "hash:" + _digest(title, entry.get("summary", "") or content)
        raw.append(
            (
                identity,
                ParsedEntry(
                    key=identity,
                    url=url,
                    title=title,
                    author=(entry.get("author") or None),
                    published_at=_timestamp(entry.get("published_parsed")),
                    updated_at=_timestamp(entry.get("updated_parsed")),
                    summary_html=entry.get("summary", "") or "",
                    content_html=content,
                    tags=tuple(t.get("term", "") for t in entry.get("tags", []) if t.get("term")),
                    content_hash=content_hash,
                ),
            )
        )

    # A guid repeated inside one document would collapse distinct items; disambiguate by
    # link and title, which keeps the key stable across polls.
    counts = Counter(identity for identity, _ in raw)
    entries = []
    for identity, item in raw:
        key = identity
        if counts[identity] > 1:
            key = f"{identity}#{_digest(item.url or '', item.title)[:16]}"
        entries.append(replace(item, key=_bounded(key)))
    warning = str(parsed.get("bozo_exception")) if parsed.get("bozo") else None
    return ParsedFeed(
        title=(meta.get("title") or "").strip() or urlsplit(feed_url).netloc,
        site_url=site_url,
        ttl_seconds=ttl_seconds,
        entries=entries,
        warning=warning,
    )
