"""Feed autodiscovery: the feeds an HTML page advertises (pure: bytes in, URLs out).

People paste a blog's address, not its feed's; the page names its feeds in
`<link rel="alternate" type="application/rss+xml" href="…">` (RSS, Atom or JSON Feed).
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import lxml.html
from lxml import etree

FEED_TYPES = frozenset(
    {
        "application/rss+xml",
        "application/atom+xml",
        "application/feed+json",
        "application/rdf+xml",
        "application/xml",
        "text/xml",
    }
)
MAX_PAGE_BYTES = 1_000_000  # the <head> is at the top; a huge page's body is never needed


def looks_like_html(body: bytes, content_type: str | None) -> bool:
    """True for an HTML page (by its Content-Type, or its first bytes when that is vague)."""
    if content_type and "html" in content_type.lower():
        return True
    head = body[:2048].lower()
    return b"<html" in head or b"<!doctype html" in head


def advertised_feeds(page: bytes, page_url: str) -> list[str]:
    """Absolute http(s) URLs of the feeds a page advertises, best first: those under the page's
    own path (a blog section's feed rather than the whole site's), then in page order."""
    try:
        root = lxml.html.fromstring(page[:MAX_PAGE_BYTES])
    except (etree.ParserError, ValueError):
        return []
    base = page_url
    for tag in root.iter("base"):
        if tag.get("href"):
            base = urljoin(page_url, tag.get("href", "").strip())
            break
    found: list[str] = []
    for link in root.iter("link"):
        rel = (link.get("rel") or "").lower().split()
        kind = (link.get("type") or "").split(";")[0].strip().lower()
        href = (link.get("href") or "").strip()
        if "alternate" not in rel or kind not in FEED_TYPES or not href:
            continue
        url = urljoin(base, href)
        if urlsplit(url).scheme in ("http", "https") and url not in found:
            found.append(url)
    section = urlsplit(page_url).path.rstrip("/")
    if section:
        # Stable sort: feeds under the page's own path first, the rest in page order.
        found.sort(key=lambda u: not urlsplit(u).path.startswith(section + "/"))
    return found
