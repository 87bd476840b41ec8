"""Feed text as plain text: HTML titles to text, control and bidi characters out, bounded.

Pure functions shared by the feed parser (clean once where text comes in) and the renderers
(Slack, CLI), which apply them again to anything stored before the parser cleaned it.
"""

from __future__ import annotations

import html
import re

# C0 controls but tab and newline, DEL and C1, bidi marks/embeddings/overrides/isolates
# (a U+202E in a title reverses what follows it), and lone surrogates (not encodable).
_CONTROLS = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_SPACES = re.compile(r"\s+")
_NOT_IN_URL = re.compile(r'[\s<>|"]')
_TAG = re.compile(r"<\s*/?\s*[A-Za-z][^<>]*>")
# Tags that mean HTML when text has no declared type; `vector<int>` or `<T>` are not HTML.
_HTML_TAG = re.compile(
    r"<\s*/?\s*(?:a|abbr|applet|b|big|blink|br|cite|code|del|div|em|embed|font|form|frame"
    r"|frameset|h[1-6]|i|iframe|layer|marquee|param"
    r"|img|input|ins|kbd|link|mark|meta|noscript|object|p|q|s|script|small|span|strike|strong"
    r"|style|sub|sup|svg|template|tt|u|video|audio|body|html|head|title|base)\b[^<>]*>",
    re.I,
)
_DROP = ("script", "style", "noscript", "template", "iframe", "object", "svg", "math", "head")
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
MAX_URL = 2048


def strip_controls(text: str) -> str:
    """Remove NUL, other C0/C1 controls (not newline or tab) and bidi control characters."""
    if not text:
        return ""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROLS.sub("", text)


def unescape_slack(text: str) -> str:
    """Slack's three entities back to characters (`&amp;` last, so `&amp;lt;` stays `&lt;`):
    what someone typed, before we escape it again on output."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def truncate(text: str, limit: int) -> str:
    """At most `limit` characters, ending with an ellipsis when cut."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)].rstrip() + "…"


def one_line(text: str | None, limit: int) -> str:
    """Text on one line without controls, runs of whitespace collapsed, at most `limit` chars."""
    return truncate(_SPACES.sub(" ", strip_controls(text or "")).strip(), limit)


def looks_like_html(text: str) -> bool:
    """True when the text holds an HTML tag (`<b>`, `<script …>`, `</em>`)."""
    return bool(_HTML_TAG.search(text))


def html_text(fragment: str) -> str:
    """The text of an HTML fragment: entities decoded once, tags removed, script/style dropped."""
    cleaned = strip_controls(fragment)
    if not cleaned.strip():
        return ""
    # Imported here: plain text (every answer `devopsbot ask` prints) never needs lxml.
    from lxml import etree
    from lxml import html as lxml_html

    try:
        root = lxml_html.fragment_fromstring(cleaned, create_parent="div")
    except (etree.ParserError, ValueError):
        # Nothing lxml can read as HTML: drop anything tag-shaped and decode the entities.
        return strip_controls(html.unescape(_TAG.sub(" ", cleaned)))
    for node in list(root.iter(*_DROP)):
        node.drop_tree()  # keeps the tail text that follows the dropped element
    # Entities such as &#x202E; only become characters once decoded.
    return strip_controls(root.text_content())


def feed_text(value: str | None, content_type: str | None, limit: int, *, rss: bool) -> str:
    """One feed field (title, author…) as one plain line.

    HTML-typed values are converted to text; RSS has no type attribute, so feedparser's guess
    `text/plain` is overruled when the value holds tags (it calls `<script>` text plain).
    Plain values are not decoded again: `&amp;amp;` in a typed-plain Atom title shows `&amp;`.
    """
    raw = value or ""
    if (content_type or "").lower() in HTML_TYPES or (rss and looks_like_html(raw)):
        raw = html_text(raw)
    return one_line(raw, limit)


def stored_line(text: str | None, limit: int) -> str:
    """Stored feed text as one plain line: titles stored before the parser converted HTML ones
    may still hold tags, which are never shown."""
    text = text or ""
    return one_line(html_text(text) if looks_like_html(text) else text, limit)


def safe_url(url: str | None, limit: int = MAX_URL) -> str | None:
    """An http(s) URL fit to link to, or None: no other schemes, no spaces, not absurdly long."""
    if not url:
        return None
    url = url.strip()
    scheme, sep, rest = url.partition("://")
    if len(url) > limit or not sep or scheme.lower() not in ("http", "https"):
        return None
    if _CONTROLS.search(url) or _NOT_IN_URL.search(url):
        return None
    return scheme.lower() + "://" + rest
