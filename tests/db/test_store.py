"""Store behaviour on SQLite and PostgreSQL alike: replacing notes, storing entries once."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import func, select

from bot.db.models import Article, Chunk, Source
from bot.db.reads import source_revisions
from bot.db.store import get_or_create_source, replace_note_chunks
from bot.feeds.ingest import store_parsed_feed
from bot.feeds.parse import parse_feed
from bot.knowledge.notes import chunk_markdown
from bot.knowledge.stored import indexed_chunks


def _count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_loading_notes_again_replaces_their_chunks(sessions, seed_notes):
    with sessions.begin() as s:
        replace_note_chunks(s, "/notes/devops.md", "devops.md", chunk_markdown(seed_notes))
    with sessions.begin() as s:
        first = _count(s, Chunk)
        rev = source_revisions(s)
        replace_note_chunks(
            s, "/notes/devops.md", "devops.md", chunk_markdown("- only: one bullet\n")
        )
    with sessions() as s:
        assert first > 300
        assert _count(s, Chunk) == 1
        assert _count(s, Source) == 1
        (sid,) = rev
        assert source_revisions(s)[sid] == rev[sid] + 1
        assert indexed_chunks(s, sid)[0].text == "only: one bullet"


def test_a_failed_reload_keeps_the_chunks_already_stored(sessions, seed_notes):
    with sessions.begin() as s:
        replace_note_chunks(s, "/n.md", "n.md", chunk_markdown(seed_notes))
    before_count = None
    try:
        with sessions.begin() as s:
            before_count = _count(s, Chunk)
            replace_note_chunks(s, "/n.md", "n.md", [])
            raise RuntimeError("disk went away mid-load")
    except RuntimeError:
        pass
    with sessions() as s:
        assert _count(s, Chunk) == before_count


def test_feed_entries_are_stored_once_however_often_polled(sessions, seed_feed):
    parsed = parse_feed(seed_feed("e13-dev.rss.xml"), "https://e13.dev/blog/index.xml")
    with sessions.begin() as s:
        source = get_or_create_source(s, "feed", "https://e13.dev/blog/index.xml", parsed.title)
        first = store_parsed_feed(s, source, parsed)
    with sessions.begin() as s:
        source = s.get(Source, source.id)
        again = store_parsed_feed(s, source, parsed)
    with sessions() as s:
        assert len(first.new) == 10
        assert again.new == [] and again.edited == []
        assert _count(s, Article) == 10


def test_an_edited_entry_is_updated_not_new(sessions, seed_feed):
    parsed = parse_feed(seed_feed("e13-dev.rss.xml"), "https://e13.dev/blog/index.xml")
    with sessions.begin() as s:
        source = get_or_create_source(s, "feed", "k", parsed.title)
        store_parsed_feed(s, source, parsed)
        sid = source.id
    edited_entry = replace(
        parsed.entries[0], title="Software Is Still Eating the World (updated)", content_hash="x"
    )
    edited = replace(parsed, entries=[edited_entry, *parsed.entries[1:]])
    with sessions.begin() as s:
        result = store_parsed_feed(s, s.get(Source, sid), edited)
    with sessions() as s:
        assert result.new == [] and len(result.edited) == 1
        titles = s.scalars(select(Article.title)).all()
        assert "Software Is Still Eating the World (updated)" in titles
        assert _count(s, Article) == 10
        chunk_titles = {c.title for c in indexed_chunks(s, sid)}
        assert "Software Is Still Eating the World (updated)" in chunk_titles
        assert "Software Is Still Eating the World" not in chunk_titles


def test_deleting_a_source_removes_its_articles_and_chunks(sessions, seed_feed):
    parsed = parse_feed(seed_feed("e13-dev.rss.xml"), "https://e13.dev/blog/index.xml")
    with sessions.begin() as s:
        source = get_or_create_source(s, "feed", "k", parsed.title)
        store_parsed_feed(s, source, parsed)
    with sessions.begin() as s:
        s.delete(s.get(Source, source.id))
    with sessions() as s:
        assert _count(s, Article) == 0
        assert _count(s, Chunk) == 0
