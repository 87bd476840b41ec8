"""Feed autodiscovery from an HTML page (pure: no network)."""

from __future__ import annotations

from bot.feeds.discover import advertised_feeds, looks_like_html

PAGE = b"""<!doctype html><html><head><title>Blog</title>
<link rel="stylesheet" href="/style.css">
<link rel="alternate" type="application/rss+xml" title="Everything" href="/feed.xml">
<link rel="alternate" type="application/atom+xml" href="https://example.com/blog/atom.xml">
<link rel="alternate" type="text/html" href="/other-page">
<link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">
</head><body><p>hello</p></body></html>"""


def test_the_section_feed_comes_before_the_site_wide_one():
    assert advertised_feeds(PAGE, "https://example.com/blog/") == [
        "https://example.com/blog/atom.xml",
        "https://example.com/feed.xml",
    ]


def test_at_the_site_root_the_page_order_is_kept_and_relative_links_resolved():
    assert advertised_feeds(PAGE, "https://example.com/") == [
        "https://example.com/feed.xml",
        "https://example.com/blog/atom.xml",
    ]


def test_base_href_json_feeds_and_rel_lists_are_understood():
    page = b"""<html><head><base href="https://cdn.example.org/site/">
    <link rel="feed alternate" type="application/feed+json; charset=utf-8" href="feed.json">
    </head></html>"""
    assert advertised_feeds(page, "https://example.org/") == [
        "https://cdn.example.org/site/feed.json"
    ]


def test_a_page_without_feed_links_or_not_html_gives_nothing():
    assert advertised_feeds(b"<html><head></head><body>no feeds</body></html>", "https://a/") == []
    assert advertised_feeds(b"", "https://a/") == []
    assert looks_like_html(b"<!DOCTYPE html><html>", None)
    assert looks_like_html(b"{}", "text/html; charset=utf-8")
    assert not looks_like_html(b"<?xml version='1.0'?><rss/>", "application/rss+xml")
