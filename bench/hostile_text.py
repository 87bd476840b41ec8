"""Hostile feed text: how much markup or control text reaches Slack (target: 0).

Runs a set of hostile feed documents (and, with `--feedparser-tests DIR`, every `*.xml` under a
checkout of feedparser's own tests) through parse → the text extraction the store does (no
database) → the announcement blocks, the answer blocks (three styles and "more results") and
the `devopsbot ask` output (text and --json). Each text Slack would receive is checked for:

  control     NUL, other C0/C1 controls but newline/tab, bidi controls (U+202A–E, U+2066–9…)
  slack       `<…>` sequences in mrkdwn other than our own http(s) links and date tokens
              (`<!channel>`, `<@U123>`, `<http://evil|trusted>`, `<javascript:…>`)
  formatting  `*`, `_`, `~` or a backtick in mrkdwn that a feed wrote and Slack would parse:
              counted against a twin rendering where the feed's formatting characters are `x`
  html        a tag of the feed's HTML shown as text (`<b>`, `<script …>`): one from text the
              feed typed plain, or from HTML it escaped twice (`&amp;lt;b&amp;gt;`), is text
  length      a text over its Block Kit limit, a headline over 600 characters, a link URL over
              2,048 characters

"stored before" renders what the parser used to store (feedparser's raw title and author), to
check the rendering alone. Only uses APIs older than this bench, so it also measures older code:
`PYTHONPATH=/path/to/old/checkout python bench/hostile_text.py`.

    python bench/hostile_text.py [--feedparser-tests DIR] [--show N]
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import feedparser

from bot.feeds.parse import FeedParseError, parse_feed
from bot.knowledge.articles import article_chunks, blocks_text, html_blocks, html_to_text
from bot.knowledge.index import Hit, IndexedChunk, SearchResult
from bot.render import result_json, result_text
from bot.slack.announce_blocks import ArticleView, announcement
from bot.slack.answer_blocks import Answer, AnswerHit, answer_message, more_results_message

SITE = "https://ops.example/"
QUESTION = "what changed in the release"
CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
TOKEN = re.compile(r"<[^<>]*>")
OURS = re.compile(
    r"<https?://[^\s<>|]{1,2048}\|[^<>]*>|<!date\^\d+\^\{date_short(?:_pretty)?\}\|[\d-]+>"
)
LINK_URL = re.compile(r"<([a-z]+:[^|<>]*)\|")
FORMATTING = re.compile(r"(?<!\u200b)[*_~`]|[*_~`](?!\u200b)")
TAG = re.compile(
    r"<\s*/?\s*(?:a|b|i|u|s|em|strong|img|script|style|iframe|object|embed|applet|frame|div|span"
    r"|p|br|font|blink|meta|link|form|input|svg|math|video|audio|body|html|head|title|base"
    r"|h[1-6]|ul|ol|li|table|tr|td|pre|code|q|blockquote)\b[^<>]*>",
    re.I,
)
LIMITS = {"section": 3000, "context": 3000, "header": 150, "button": 75, "value": 2000}

# -- the hostile set ---------------------------------------------------------------------------

MRKDWN = "*URGENT* _read_ ~gone~ `code` ```fence\nrest > quote"
SLACK = "<!channel> <!here> <@U123> <#C0OPS1234|ops> <http://evil.example|trusted> <!subteam^S1>"
CONTROL = "a\x00b\x07c\x1b[31md\x85e\u202eevil\u2066x\u2069\u200ey\u200f\u061cz"
PAYLOADS: dict[str, str] = {
    "mrkdwn": MRKDWN,
    "slack tokens": SLACK,
    "controls": CONTROL,
    "html": (
        '<b>&#38;</b> <i>i</i> <script>alert(1)</script><style>p{}</style><img src=x onload="a()">'
    ),
    "entities": "Ops &amp; SRE &amp;amp; &#60;!channel&#62; &lt;@U123&gt; &#x202E;rtl &nbsp;nb",
    "sloppy double escape": "&lt;b&gt;Bold&lt;/b&gt; &amp;lt;i&amp;gt; &amp;#38;",
    "fence swallow": "```" + "\n" + "x" * 50 + "\n and everything after",
    "quote and list": "> quoted\n- item\n1. one",
    "emoji and mentions": ":rotating_light: @here @channel",
    "huge": "x" * 100_000,
    "huge words": "word " * 20_000,
}
# Twice over: once as the feed's text, once as its XML-escaped HTML (RSS descriptions are HTML).
LINKS = {
    "ok": SITE + "post?a=1&b=2",
    "8 KB": SITE + "a" * 8000,
    "javascript": "javascript:alert(1)",
    "data": "data:text/html,<script>alert(1)</script>",
    "vbscript": "vbscript:msgbox(1)",
    "spaces": "https://ops.example/a b|c>d",
    "bidi": "https://ops.example/\u202eevil",
}


def _xml(text: str) -> str:
    """Text as XML character data (raw controls XML forbids become character references that
    feedparser's loose parser still reads)."""
    escaped = html.escape(text, quote=False)
    return "".join(f"&#{ord(c)};" if ord(c) < 32 and c not in "\n\t" else c for c in escaped)


def _rss_doc(title: str, link: str, author: str, description: str, feed_title: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{_xml(feed_title)}</title><link>{SITE}</link><item>"
        f"<title>{_xml(title)}</title><link>{_xml(link)}</link><guid>g1</guid>"
        f"<author>{_xml(author)}</author><category>{_xml(title[:200])}</category>"
        f"<description>{_xml(description)}</description></item></channel></rss>"
    ).encode()


def _atom_doc(title: str, kind: str, link: str, author: str, summary: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f'<title type="{kind}">{_xml(title)}</title><link href="{SITE}"/><entry><id>e1</id>'
        f'<title type="{kind}">{_xml(title)}</title><link href="{_xml(link)}"/>'
        f"<author><name>{_xml(author)}</name></author>"
        f'<summary type="{kind}">{_xml(summary)}</summary></entry></feed>'
    ).encode()


def hostile_feeds() -> list[tuple[str, bytes]]:
    """Every payload in every field, in RSS and in Atom typed html and text, and every link."""
    feeds = []
    for name, payload in PAYLOADS.items():
        feeds.append((f"rss/{name}", _rss_doc(payload, LINKS["ok"], payload, payload, payload)))
        feeds.append(
            (f"atom-html/{name}", _atom_doc(payload, "html", LINKS["ok"], payload, payload))
        )
        # Typed plain: tags there are text (authors have no type, so they stay benign here).
        feeds.append((f"atom-text/{name}", _atom_doc(payload, "text", LINKS["ok"], "A", payload)))
    for name, link in LINKS.items():
        feeds.append((f"rss/link {name}", _rss_doc("Title", link, "A", "Body", "Feed")))
        feeds.append((f"atom/link {name}", _atom_doc("Title", "text", link, "A", "Body")))
    everything = " ".join(PAYLOADS[k] for k in ("mrkdwn", "slack tokens", "controls", "html"))
    feeds.append(
        ("rss/everything", _rss_doc(everything, LINKS["8 KB"], everything, everything, everything))
    )
    return feeds


# -- checking what Slack would receive ---------------------------------------------------------


def text_objects(message: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(kind, text, limit) of a message's fallback text and every text in its blocks."""
    found = [("mrkdwn", message["text"], 40_000)]
    for block in message["blocks"]:
        if block["type"] in ("section", "header"):
            found.append((block["text"]["type"], block["text"]["text"], LIMITS[block["type"]]))
        elif block["type"] == "context":
            found.extend((e["type"], e["text"], LIMITS["context"]) for e in block["elements"])
        elif block["type"] == "actions":
            for element in block["elements"]:
                found.append(("plain_text", element["text"]["text"], LIMITS["button"]))
                found.append(("value", element.get("value", ""), LIMITS["value"]))
    return found


def shown(kind: str, text: str) -> str:
    """What a reader sees of a text object (mrkdwn entities undone, our links' labels kept)."""
    if kind != "mrkdwn":
        return text
    text = re.sub(r"<https?://[^|<>]*\|([^<>]*)>", r"\1", text)
    text = re.sub(r"<!date\^[^|<>]*\|([^<>]*)>", r"\1", text)
    return (
        text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").replace("\u200b", "")
    )


def check(message: dict[str, Any], twin: dict[str, Any], markup: str) -> Counter[str]:
    """Leaks in one message; `twin` is the same message from formatting-free feed text and
    `markup` the feed's HTML as written (see `_markup`)."""
    leaks: Counter[str] = Counter()
    twin_objects = text_objects(twin)
    for i, (kind, text, limit) in enumerate(text_objects(message)):
        if kind == "value":
            leaks["length"] += len(text) > limit
            continue
        leaks["length"] += len(text) > limit
        leaks["control"] += len(CONTROLS.findall(text))
        if kind == "mrkdwn":
            leaks["slack"] += sum(1 for t in TOKEN.findall(text) if not OURS.fullmatch(t))
            leaks["length"] += sum(1 for url in LINK_URL.findall(text) if len(url) > 2048)
            twin_text = twin_objects[i][1] if i < len(twin_objects) else ""
            extra = len(FORMATTING.findall(text)) - len(FORMATTING.findall(twin_text))
            leaks["formatting"] += max(extra, 0)
        visible = shown(kind, text)
        leaks["html"] += sum(1 for t in TAG.findall(visible) if t in markup)
    head = message["blocks"][0] if message["blocks"] else None
    if head and head["type"] == "section" and len(head["text"]["text"]) > 600:
        leaks["length"] += 1
    return leaks


def check_cli(text: str, markup: str) -> Counter[str]:
    leaks: Counter[str] = Counter()
    leaks["control"] += len(CONTROLS.findall(text))
    leaks["html"] += sum(1 for t in TAG.findall(text) if t in markup)
    return leaks


# -- the pipeline, store-free ------------------------------------------------------------------

_FORMATTING_CHARS = str.maketrans({c: "x" for c in "*_~`"})


def _twin_text(value: str | None) -> str | None:
    return None if value is None else value.translate(_FORMATTING_CHARS)


def _markup(body: bytes) -> str:
    """The tags of the feed's HTML: its HTML-typed values as feedparser returns them (RSS values
    and authors count as HTML). Shown as text, such a tag is a leak; one that only appears once
    they are decoded (`&amp;lt;b&amp;gt;` → `<b>`) is what the feed wrote."""
    parsed = feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)
    rss = not str(parsed.get("version") or "").startswith("atom")
    values = []
    for item in [parsed.feed, *parsed.entries]:
        for field in ("title", "summary"):
            detail = item.get(f"{field}_detail") or {}
            if rss or detail.get("type") in ("text/html", "application/xhtml+xml"):
                values.append(item.get(field) or "")
        values.extend(
            c.get("value", "")
            for c in item.get("content") or []
            if rss or c.get("type") in ("text/html", "application/xhtml+xml")
        )
        values.append(item.get("author") or "")
        values.extend(t.get("term") or "" for t in item.get("tags") or [])
    return "\n".join(TAG.findall("\n".join(values)))


def _raw_views(body: bytes, feed_title: str) -> list[ArticleView]:
    """What older code stored: feedparser's title and author as they came."""
    parsed = feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)
    views = []
    for entry in parsed.entries:
        summary = html_to_text(entry.get("summary", "") or "")
        views.append(
            ArticleView(
                title=(entry.get("title") or "").strip(),
                url=entry.get("link"),
                feed_title=(parsed.feed.get("title") or feed_title),
                author=entry.get("author"),
                published_at=datetime(2024, 1, 1, tzinfo=UTC),
                summary=summary,
                text=summary,
            )
        )
    return views


def _announce(view: ArticleView, markup: str) -> Counter[str]:
    twin = replace(
        view,
        title=_twin_text(view.title),
        feed_title=_twin_text(view.feed_title),
        author=_twin_text(view.author),
        summary=_twin_text(view.summary),
        text=_twin_text(view.text),
    )
    msg, twin_msg = announcement(view), announcement(twin)
    as_dict = {"text": msg.text, "blocks": msg.blocks}
    return check(as_dict, {"text": twin_msg.text, "blocks": twin_msg.blocks}, markup)


def _answers(chunks: list[IndexedChunk], markup: str) -> Counter[str]:
    leaks: Counter[str] = Counter()
    twins = [
        replace(
            c,
            title=_twin_text(c.title),
            section=_twin_text(c.section),
            text=_twin_text(c.text),
            source_name=_twin_text(c.source_name),
        )
        for c in chunks
    ]
    hits = tuple(AnswerHit(c, 0.9 - i * 0.1) for i, c in enumerate(chunks[:3]))
    twin_hits = tuple(AnswerHit(c, 0.9 - i * 0.1) for i, c in enumerate(twins[:3]))
    for answered in (True, False):
        for style in ("private", "conversation", "shared"):
            msg = answer_message(Answer(QUESTION, answered, hits), style).as_kwargs()
            twin = answer_message(Answer(QUESTION, answered, twin_hits), style).as_kwargs()
            leaks += check(msg, twin, markup)
    more = more_results_message(QUESTION, list(hits)).as_kwargs()
    leaks += check(more, more_results_message(QUESTION, list(twin_hits)).as_kwargs(), markup)
    result = SearchResult(QUESTION, True, [Hit(h.chunk, h.score, 1.0) for h in hits])
    leaks += check_cli(result_text(result), markup)
    leaks += check_cli(json.dumps(result_json(result), ensure_ascii=False), markup)
    return leaks


def run_feed(name: str, body: bytes) -> tuple[Counter[str], Counter[str], int]:
    """(leaks parse → render, leaks stored-before → render, messages checked) for one feed."""
    try:
        parsed = parse_feed(body, SITE + "feed.xml")
    except FeedParseError:
        return Counter(), Counter(), 0
    markup = _markup(body)
    fresh: Counter[str] = Counter()
    stale: Counter[str] = Counter()
    messages = 0
    for n, entry in enumerate(parsed.entries):
        blocks = html_blocks(entry.content_html)
        text = blocks_text(blocks)
        if entry.summary_html and entry.summary_html != entry.content_html:
            summary = html_to_text(entry.summary_html)
        else:
            summary = text
        view = ArticleView(
            title=entry.title,
            url=entry.url,
            feed_title=parsed.title,
            author=entry.author,
            published_at=entry.published_at or datetime(2024, 1, 1, tzinfo=UTC),
            summary=summary,
            text=text or summary,
        )
        fresh += _announce(view, markup)
        drafts = article_chunks(entry.title, blocks, entry.url, summary, ", ".join(entry.tags))
        chunks = [
            IndexedChunk(
                id=n * 100 + i,
                source_id=1,
                kind="article",
                title=d.title,
                section=d.section,
                text=d.text,
                url=d.url,
                source_name=parsed.title,
            )
            for i, d in enumerate(drafts)
        ]
        fresh += _answers(chunks, markup)
        messages += 1 + 8
    for view in _raw_views(body, parsed.title):
        stale += _announce(view, markup)
        messages += 1
    return fresh, stale, messages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feedparser-tests", type=Path, help="a checkout's tests/ folder")
    parser.add_argument("--show", type=int, default=5, help="feeds to name per category")
    args = parser.parse_args()
    sets = {"hostile set": hostile_feeds()}
    if args.feedparser_tests:
        files = sorted(args.feedparser_tests.rglob("*.xml"))
        sets["feedparser tests"] = [
            (str(p.relative_to(args.feedparser_tests)), p.read_bytes()) for p in files
        ]
    total = 0
    for set_name, feeds in sets.items():
        fresh: Counter[str] = Counter()
        stale: Counter[str] = Counter()
        where: dict[str, list[str]] = {}
        messages = leaky_feeds = 0
        for name, body in feeds:
            f, s, m = run_feed(name, body)
            fresh += f
            stale += s
            messages += m
            leaky_feeds += bool(sum(f.values()))
            for category in f:
                where.setdefault(category, []).append(name)
            for category in s:
                where.setdefault(f"{category} (stored before)", []).append(name)
        leaking = sum(fresh.values())
        total += leaking
        print(f"{set_name}: {len(feeds)} feeds, {messages} messages/outputs checked")
        print(f"  parse → render: {leaking} leaks in {leaky_feeds} feeds {dict(fresh) or ''}")
        print(f"  stored before → render: {sum(stale.values())} leaks {dict(stale) or ''}")
        for category, names in where.items():
            print(f"    {category}: {', '.join(names[: args.show])}")
    sys.exit(1 if total else 0)


if __name__ == "__main__":
    main()
