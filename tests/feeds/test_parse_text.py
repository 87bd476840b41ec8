"""Feed text comes in as plain text: HTML titles converted, entities decoded once, controls out,
everything bounded. Pure: bytes in, values out; plus what `devopsbot ask` prints of it."""

from __future__ import annotations

import json

import pytest

from bot.feeds.identity import digest
from bot.feeds.parse import AUTHOR_CHARS, TITLE_CHARS, parse_feed
from bot.knowledge.articles import article_chunks, html_blocks, html_to_text
from bot.knowledge.index import Hit, IndexedChunk, SearchResult
from bot.plaintext import html_text, safe_url, stored_line, strip_controls
from bot.render import result_json, result_text

SITE = "https://ops.example/"


def rss(items: str, title: str = "Ops") -> bytes:
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel>'
        f"<title>{title}</title><link>{SITE}</link>{items}</channel></rss>"
    ).encode()


def atom(entries: str, title: str = "<title>Ops</title>") -> bytes:
    return (
        '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f'{title}<link href="{SITE}"/>{entries}</feed>'
    ).encode()


def one(body: bytes):
    (entry,) = parse_feed(body, SITE + "feed.xml").entries
    return entry


# -- HTML-typed titles -------------------------------------------------------------------------


def test_an_html_title_is_text_without_script_style_or_attributes():
    title = (
        "&lt;script&gt;alert(1)&lt;/script&gt;&lt;style&gt;b{color:red}&lt;/style&gt;"
        '&lt;img src=x onload="alert(1)"&gt;Deploy &lt;b&gt;&amp;#38;&lt;/b&gt; ship'
    )
    entry = one(atom(f'<entry><id>1</id><title type="html">{title}</title></entry>'))
    assert entry.title == "Deploy & ship"


def test_rss_titles_are_html_even_where_feedparser_guesses_plain():
    # feedparser calls a title holding only <script> "text/plain": RSS has no types.
    items = (
        "<item><guid>1</guid><title>&lt;b&gt;&amp;#38;&lt;/b&gt; bold</title></item>"
        "<item><guid>2</guid><title>&lt;script&gt;alert(1)&lt;/script&gt;Hi</title></item>"
        "<item><guid>3</guid><title>vector&lt;int&gt; tips</title></item>"
    )
    titles = [e.title for e in parse_feed(rss(items), SITE).entries]
    assert titles == ["& bold", "Hi", "vector<int> tips"]  # `<int>` is not HTML


def test_an_xhtml_title_is_text():
    title = '<div xmlns="http://www.w3.org/1999/xhtml"><b>X</b> &amp;amp; <i>y</i></div>'
    entry = one(atom(f'<entry><id>1</id><title type="xhtml">{title}</title></entry>'))
    assert entry.title == "X &amp; y"  # XHTML `&amp;amp;` is the text `&amp;`


def test_a_plain_title_is_not_decoded_twice():
    entry = one(atom('<entry><id>1</id><title type="text">T &amp;amp; &lt;b&gt;</title></entry>'))
    assert entry.title == "T &amp; <b>"


def test_the_feed_title_is_text_too():
    body = atom(
        "<entry><id>1</id><title>x</title></entry>", '<title type="html">A &amp;amp; B</title>'
    )
    assert parse_feed(body, SITE).title == "A & B"


# -- authors, summaries, tags ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("xml", "shown"),
    [
        ("Ops &amp;amp; SRE", "Ops & SRE"),  # a sloppy feed's double escape
        ("Ops &amp; SRE", "Ops & SRE"),
        ("ops@e13.dev (Jane &lt;Ops&gt;)", "ops@e13.dev (Jane <Ops>)"),
        ("&lt;a href='x'&gt;Jane&lt;/a&gt;", "Jane"),
    ],
)
def test_authors_are_decoded_once(xml, shown):
    entry = one(rss(f"<item><guid>1</guid><title>t</title><author>{xml}</author></item>"))
    assert entry.author == shown


def test_a_plain_summary_is_escaped_so_its_text_is_decoded_once():
    entry = one(
        atom(
            '<entry><id>1</id><title>t</title><summary type="text">a &amp;amp; b &lt;i&gt;'
            "</summary></entry>"
        )
    )
    assert html_to_text(entry.summary_html) == "a &amp; b <i>"


def test_a_summary_copied_from_html_content_stays_html():
    # Without <summary>, feedparser copies the content into `summary` without its type.
    entry = one(
        atom('<entry><id>1</id><content type="html">A &lt;b&gt;B&lt;/b&gt;</content></entry>')
    )
    assert html_to_text(entry.summary_html) == "A B" == html_to_text(entry.content_html)


def test_tags_are_plain_lines():
    entry = one(
        rss("<item><guid>1</guid><title>t</title><category>k8s&#x202E;\n  ops</category></item>")
    )
    assert entry.tags == ("k8s ops",)


# -- controls, sizes, links --------------------------------------------------------------------


def test_nul_bidi_and_other_controls_are_removed():
    body = rss(
        "<item><guid>1</guid><title>a\x00b \u202eevil &#x202E;x &#x2066;y\x07 &#x200F;z</title>"
        "<description>d\x00e &amp;#x202E;f &lt;pre&gt;g\x1b[31m&lt;/pre&gt;</description></item>"
    ).replace(b"\\x00", b"\x00")
    entry = one(body)
    assert entry.title == "ab evil x y z"
    text = html_to_text(entry.summary_html)
    assert text == "de f\n\ng[31m"
    assert strip_controls("a\r\nb\x85c\u2069\ud800") == "a\nbc"


def test_nul_in_html_is_not_a_reason_to_show_the_markup():
    # lxml refuses NUL (ValueError); the text must not fall back to the raw HTML.
    assert html_blocks("<p>a\x00b</p><script>x</script>") == [("p", "ab")]
    assert html_text("<!-- only a comment -->") == ""


def test_a_100_kb_title_and_author_are_capped():
    entry = one(
        rss(
            f"<item><guid>1</guid><title>{'x' * 100_000}</title>"
            f"<author>{'y' * 100_000}</author></item>"
        )
    )
    assert len(entry.title) == TITLE_CHARS and entry.title.endswith("…")
    assert len(entry.author) == AUTHOR_CHARS


def test_an_8_kb_or_javascript_link_is_dropped_but_identity_is_kept():
    long = SITE + "a" * 8000
    items = (
        f"<item><title>long</title><link>{long}</link></item>"
        "<item><title>js</title><link>javascript:alert(1)</link></item>"
        "<item><title>data</title><link>data:text/html,x</link></item>"
    )
    entries = parse_feed(rss(items), SITE).entries
    assert [e.url for e in entries] == [None, None, None]
    assert entries[0].key.startswith("sha256:")  # still the link's identity, bounded
    assert safe_url(SITE + "ok?a=1&b=2") == SITE + "ok?a=1&b=2"
    assert safe_url("https://x.example/a b") is None


def test_identities_come_from_the_raw_title_so_cleaning_reposts_nothing():
    raw = "&lt;b&gt;Hi&lt;/b&gt;"
    entry = one(rss(f"<item><title>{raw}</title><description>d</description></item>"))
    assert entry.title == "Hi"
    assert entry.key == "hash:" + digest("<b>Hi</b>", "d")


# -- what `devopsbot ask` prints ---------------------------------------------------------------


def test_ask_output_carries_the_plain_text():
    entry = one(
        rss(
            "<item><guid>1</guid><title>&lt;b&gt;Ship&lt;/b&gt; &amp;amp; \x1b[2J</title>"
            f"<link>{SITE}p</link><description>body &amp;lt;x&amp;gt;</description></item>"
        ).replace(b"\\x1b", b"\x1b")
    )
    blocks = html_blocks(entry.content_html)
    lead, *_ = article_chunks(entry.title, blocks, entry.url, html_to_text(entry.summary_html))
    chunk = IndexedChunk(1, 1, "article", lead.title, lead.section, lead.text, lead.url, "Ops")
    # An article stored before titles were cleaned: rendered as text all the same.
    old = IndexedChunk(2, 1, "article", "<b>Old</b> \u202etitle", "", "old\x00 text", None, "Ops")
    result = SearchResult("ship", True, [Hit(chunk, 0.9, 1.0), Hit(old, 0.5, 0.5)])
    first, second = result_json(result)["results"]
    assert (first["title"], first["text"]) == ("Ship & [2J", "body <x>")
    assert (second["title"], second["text"]) == ("Old title", "old text")
    printed = result_text(result)
    assert "Ship & [2J" in printed and "Old title" in printed
    assert "<b>" not in printed and "\x1b" not in printed and "\u202e" not in printed
    assert json.dumps(result_json(result)).count("\\u202e") == 0
    assert stored_line("<b>Old</b>  title", 100) == "Old title"
