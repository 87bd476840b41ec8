"""Pure feed parsing: identities, absolute links, malformed input."""

from __future__ import annotations

import pytest

from bot.feeds.identity import canonical_url
from bot.feeds.parse import FeedParseError, parse_feed

RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
<link>https://site.example/</link>%s</channel></rss>"""


def _rss(items: str) -> bytes:
    return RSS % items.encode()


@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("analogous-dev.rss.xml", 8),
        ("shipit-dev.atom.xml", 24),
        ("e13-dev.rss.xml", 10),
        ("dev-to-maelvls.rss.xml", 12),
    ],
)
def test_seed_feeds_parse_with_unique_identities(seed_feed, name, count):
    parsed = parse_feed(seed_feed(name), f"https://feeds.example/{name}")
    assert len(parsed.entries) == count
    assert len({e.key for e in parsed.entries}) == count
    assert all(e.url and e.url.startswith("https://") for e in parsed.entries)


def test_relative_links_resolve_against_the_site_link(seed_feed):
    parsed = parse_feed(seed_feed("analogous-dev.rss.xml"), "https://feeds.example/a.xml")
    assert parsed.entries[0].url == "https://www.analogous.dev/blog/analogies-help-us-learn"


def test_identity_falls_back_from_guid_to_link_to_content_hash():
    parsed = parse_feed(
        _rss(
            "<item><guid>g-1</guid><link>/a</link><title>A</title></item>"
            "<item><link>/b</link><title>B</title></item>"
            "<item><title>C</title><description>only text</description></item>"
        ),
        "https://site.example/feed",
    )
    keys = [e.key for e in parsed.entries]
    assert keys[0] == "g-1"
    assert keys[1] == "https://site.example/b"
    assert keys[2].startswith("hash:")
    again = parse_feed(
        _rss("<item><title>C</title><description>only text</description></item>"),
        "https://site.example/feed",
    )
    assert again.entries[0].key == keys[2]


def test_a_guid_repeated_in_one_document_is_disambiguated():
    parsed = parse_feed(
        _rss(
            "<item><guid>same</guid><link>/one</link><title>One</title></item>"
            "<item><guid>same</guid><link>/two</link><title>Two</title></item>"
        ),
        "https://site.example/feed",
    )
    assert len({e.key for e in parsed.entries}) == 2


def test_an_edit_keeps_the_identity_but_changes_the_hash():
    before = parse_feed(_rss("<item><guid>x</guid><title>Old</title></item>"), "https://s/f")
    after = parse_feed(_rss("<item><guid>x</guid><title>New</title></item>"), "https://s/f")
    assert before.entries[0].key == after.entries[0].key
    assert before.entries[0].content_hash != after.entries[0].content_hash


def test_malformed_xml_that_feedparser_reads_is_used():
    parsed = parse_feed(_rss("<item><title>a & b</title><link>/x</link></item>"), "https://s/f")
    assert parsed.entries[0].title == "a & b"
    assert parsed.warning


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<!doctype html><html><body>Blog</body></html>", "HTML page"),
        (b"", "not an RSS or Atom feed"),
        (b'{"json": true}', "not an RSS or Atom feed"),
    ],
)
def test_what_is_not_a_feed_is_a_clear_error(body, message):
    with pytest.raises(FeedParseError, match=message):
        parse_feed(body, "https://s/f")


@pytest.mark.parametrize(
    "spelling",
    [
        "http://ops.example/posts/1",
        "https://ops.example/posts/1",
        "https://www.ops.example/posts/1",
        "http://WWW.Ops.Example:80/posts/1/",
        "https://ops.example:443/posts/1//",
    ],
)
def test_guids_and_links_are_one_identity_whatever_their_scheme_www_or_trailing_slash(spelling):
    item = f"<item><guid>{spelling}</guid><link>{spelling}</link><title>One</title></item>"
    bare = f"<item><link>{spelling}</link><title>One</title></item>"
    by_guid = parse_feed(_rss(item), "https://s/f").entries[0]
    by_link = parse_feed(_rss(bare), "https://s/f").entries[0]
    assert by_guid.key == by_link.key == "https://ops.example/posts/1"
    assert by_guid.link_key == by_link.link_key == "https://ops.example/posts/1"
    assert by_guid.url == spelling.strip()  # the link itself is kept as the feed wrote it


@pytest.mark.parametrize(
    ("value", "identity"),
    [
        ("http://ops.example/", "https://ops.example/"),
        ("http://ops.example", "https://ops.example/"),
        ("http://ops.example/a/?p=1", "https://ops.example/a?p=1"),
        ("https://ops.example/a#part", "https://ops.example/a#part"),
        ("http://ops.example:8080/a", "https://ops.example:8080/a"),
        ("http://[2001:db8::1]/a/", "https://[2001:db8::1]/a"),
        ("https://wwwops.example/a", "https://wwwops.example/a"),  # only a `www.` label goes
        ("https://ops.example/Case/Kept", "https://ops.example/Case/Kept"),
        ("tag:ops.example,2024:Post-1", "tag:ops.example,2024:Post-1"),
        ("urn:uuid:1B4E28BA-2FA1", "urn:uuid:1B4E28BA-2FA1"),
        ("post-12/", "post-12/"),  # not a URL: opaque, trailing slash and all
        ("http://ops.example:99999/a", "http://ops.example:99999/a"),  # unreadable: as written
    ],
)
def test_canonical_urls_and_opaque_guids(value, identity):
    assert canonical_url(value) == identity
    assert canonical_url(identity) == identity


def test_a_repeated_guid_keeps_its_keys_when_the_links_move_to_https():
    items = (
        "<item><guid>same</guid><link>{s}://site.example/one</link><title>One</title></item>"
        "<item><guid>same</guid><link>{s}://site.example/two</link><title>Two</title></item>"
    )
    before = parse_feed(_rss(items.format(s="http")), "https://site.example/feed")
    after = parse_feed(_rss(items.format(s="https")), "https://site.example/feed")
    assert [e.key for e in before.entries] == [e.key for e in after.entries]
    assert len({e.key for e in after.entries}) == 2
