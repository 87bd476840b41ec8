"""Pure feed parsing: bytes in, a ParsedFeed with stable entry identities out."""

from __future__ import annotations

import calendar
import html
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
import feedparser.api
import feedparser.mixin

from bot.feeds.identity import bounded, canonical_url, digest, duplicate_suffix, link_key
from bot.plaintext import (
    feed_text,
    html_text,
    looks_like_html,
    one_line,
    safe_url,
)

# Stored text is cut here; Slack and the CLI cut again to what they show.
TITLE_CHARS = 1000
AUTHOR_CHARS = 200
FEED_TITLE_CHARS = 200
TAG_CHARS = 100

# Character data coalesced before feedparser sees it: same result, half the parse time.
if "bot.feeds.sax_buffered" not in feedparser.api.PREFERRED_XML_PARSERS:
    feedparser.api.PREFERRED_XML_PARSERS.insert(0, "bot.feeds.sax_buffered")

# feedparser looks for an e-mail address in every author with a regex that is quadratic in
# the author's length (a 100 KB author took 30 s); nobody's name is longer than this.
_AUTHOR_SOURCE_CHARS = 2048
_sync_author_detail = feedparser.mixin._FeedParserMixin._sync_author_detail


def _bounded_sync_author_detail(self: Any, key: str = "author") -> None:
    context = self._get_context()
    value = context.get(key)
    if isinstance(value, str) and len(value) > _AUTHOR_SOURCE_CHARS:
        context[key] = value[:_AUTHOR_SOURCE_CHARS]
    _sync_author_detail(self, key)


feedparser.mixin._FeedParserMixin._sync_author_detail = _bounded_sync_author_detail


class FeedParseError(Exception):
    """The bytes are not an RSS/Atom feed feedparser can read; the message says what it saw."""


@dataclass(frozen=True)
class ParsedEntry:
    """One feed item, with an identity that survives edits and URL rewrites, and absolute links.

    `key` is the guid, else the link (URLs in canonical form, see bot.feeds.identity), else a
    content hash; `link_key` is the link's canonical form, for matching entries whose guid
    changed.

    `title`, `author` and `tags` are plain text (no markup, entities decoded once, no control
    characters); `summary_html` and `content_html` are HTML (typed-plain text is escaped into
    it, so extracting its text decodes entities exactly once; `html_blocks` drops controls);
    `url` is http(s) and bounded.
    """

    key: str
    url: str | None
    link_key: str | None
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


def _as_html(value: str, content_type: str | None, rss: bool) -> str:
    """A text construct as HTML: typed-plain text is escaped, so it is decoded once, later."""
    if (content_type or "").lower() != "text/plain" or (rss and looks_like_html(value)):
        return value  # HTML, or of no stated type (read as HTML, as always)
    return html.escape(value, quote=False)


def _raw_content(entry: Any) -> str:
    contents = entry.get("content") or []
    return "".join(c.get("value", "") for c in contents if c.get("value"))


def _content_html(entry: Any, rss: bool) -> str:
    contents = entry.get("content") or []
    body = "".join(_as_html(c["value"], c.get("type"), rss) for c in contents if c.get("value"))
    return body or _summary_html(entry, rss)


def _summary_html(entry: Any, rss: bool) -> str:
    summary = entry.get("summary", "") or ""
    # Without a summary feedparser copies the content into it, without its type.
    detail = entry.get("summary_detail") or next(iter(entry.get("content") or []), {})
    return _as_html(summary, detail.get("type"), rss)


def _author(value: str | None) -> str | None:
    """An author as plain text. Authors carry no type, and feeds escape them twice as often as
    not (`Ops &amp;amp; SRE`): entities left after XML decoding are decoded once more."""
    value = value or ""
    text = html_text(value) if looks_like_html(value) else html.unescape(value)
    return one_line(text, AUTHOR_CHARS) or None


def _title(item: Any, limit: int, rss: bool) -> str:
    detail = item.get("title_detail") or {}
    return feed_text(item.get("title"), detail.get("type"), limit, rss=rss)


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
    # RSS has no content types: feedparser guesses, and its "plain" guess is often HTML.
    rss = not str(parsed.get("version") or "").startswith("atom")
    site_url = safe_url(_absolute(meta.get("link"), feed_url))
    base = site_url or feed_url
    ttl = meta.get("ttl")
    try:
        ttl_seconds = int(ttl) * 60 if ttl else None
    except ValueError:
        ttl_seconds = None

    raw: list[tuple[str, str, ParsedEntry]] = []
    for entry in parsed.entries:
        # Identities come from the feed's raw values, as before text was cleaned, so cleaning
        # never turns a stored entry into a "new" one; URLs in them are compared canonically,
        # so a move to https (or www., or a trailing slash) never does either.
        raw_title = (entry.get("title") or "").strip()
        raw_url = _absolute(entry.get("link"), base)
        guid = canonical_url(entry.get("id") or "")
        identity = (
            guid
            or (canonical_url(raw_url) if raw_url else "")
            or "hash:" + digest(raw_title, entry.get("summary", "") or _raw_content(entry))
        )
        title = _title(entry, TITLE_CHARS, rss)
        content = _content_html(entry, rss)
        author = entry.get("author") or (entry.get("author_detail") or {}).get("name")
        url = safe_url(raw_url)
        raw.append(
            (
                identity,
                duplicate_suffix(raw_url, raw_title),
                ParsedEntry(
                    key=identity,
                    url=url,
                    link_key=link_key(url),
                    title=title,
                    author=_author(author),
                    published_at=_timestamp(entry.get("published_parsed")),
                    updated_at=_timestamp(entry.get("updated_parsed")),
                    summary_html=_summary_html(entry, rss),
                    content_html=content,
                    tags=tuple(
                        tag
                        for t in entry.get("tags", [])
                        if (tag := one_line(t.get("term"), TAG_CHARS))
                    ),
                    # The cleaned text: an entry stored before cleaning is updated once, in place.
                    content_hash=digest(title, content),
                ),
            )
        )

    # A guid repeated inside one document would collapse distinct items; disambiguate by
    # link and title, which keeps the key stable across polls.
    counts = Counter(identity for identity, _, _ in raw)
    entries = []
    for identity, suffix, item in raw:
        key = identity
        if counts[identity] > 1:
            key = f"{identity}#{suffix}"
        entries.append(replace(item, key=bounded(key)))
    warning = str(parsed.get("bozo_exception")) if parsed.get("bozo") else None
    return ParsedFeed(
        title=_title(meta, FEED_TITLE_CHARS, rss) or urlsplit(feed_url).netloc,
        site_url=site_url,
        ttl_seconds=ttl_seconds,
        entries=entries,
        warning=warning,
    )
