"""Parsed feed documents into the store: each entry's text and chunks, extracted only for the
entries the store takes (new or edited)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.db.models import Source
from bot.db.store import ArticleContent, StoredEntries, store_feed_entries
from bot.feeds.parse import ParsedEntry, ParsedFeed
from bot.knowledge.articles import article_chunks, blocks_text, html_blocks, html_to_text


def entry_content(entry: ParsedEntry) -> ArticleContent:
    """Plain text, summary and answer chunks of one entry (its HTML parsed once)."""
    blocks = html_blocks(entry.content_html)
    text = blocks_text(blocks)
    if entry.summary_html and entry.summary_html != entry.content_html:
        summary = html_to_text(entry.summary_html)
    else:
        summary = text
    chunks = article_chunks(entry.title, blocks, entry.url, summary, ", ".join(entry.tags))
    return ArticleContent(text=text or summary, summary=summary, chunks=chunks)


def store_parsed_feed(session: Session, source: Source, parsed: ParsedFeed) -> StoredEntries:
    """Store a parsed feed document's entries; the store decides what is new."""
    return store_feed_entries(session, source, parsed.entries, entry_content)
