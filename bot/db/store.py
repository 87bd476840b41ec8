"""Intent-named store functions. The store decides what is new; callers own the session."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from bot.db.models import Article, Chunk, Feed, Source, utcnow
from bot.feeds.parse import ParsedFeed
from bot.knowledge.articles import article_chunks, blocks_text, html_blocks, html_to_text
from bot.knowledge.chunk import ChunkDraft
from bot.knowledge.index import IndexedChunk


@dataclass(frozen=True)
class StoredEntries:
    """What storing a feed document changed: articles first seen now, and edited ones."""

    new: list[Article]
    edited: list[Article]


def get_or_create_source(session: Session, kind: str, key: str, title: str) -> Source:
    """The source with this key, created when missing."""
    source = session.scalar(select(Source).where(Source.key == key))
    if source is None:
        source = Source(kind=kind, key=key, title=title, revision=1)
        session.add(source)
        session.flush()
    elif title and source.title != title:
        source.title = title
    return source


def bump_revision(session: Session, source: Source) -> None:
    """Tell every index that this source's chunks changed."""
    session.execute(
        update(Source)
        .where(Source.id == source.id)
        .values(revision=Source.revision + 1, updated_at=utcnow())
    )
    session.refresh(source, ["revision"])


def _chunk_rows(
    source: Source, drafts: Sequence[ChunkDraft], article_id: int | None = None
) -> list[dict[str, object]]:
    return [
        {
            "source_id": source.id,
            "article_id": article_id,
            "kind": d.kind,
            "title": d.title[:1024],
            "section": d.section[:1024],
            "text": d.text,
            "url": d.url,
            "position": i,
            "line_start": d.line_start,
            "line_end": d.line_end,
        }
        for i, d in enumerate(drafts)
    ]


def _insert_chunks(session: Session, rows: list[dict[str, object]]) -> None:
    # One executemany instead of an ORM object per chunk: a cold poll stores tens of thousands.
    if rows:
        session.execute(insert(Chunk), rows)


def _add_chunks(
    session: Session, source: Source, drafts: Sequence[ChunkDraft], article_id: int | None = None
) -> None:
    _insert_chunks(session, _chunk_rows(source, drafts, article_id))


def replace_note_chunks(
    session: Session, key: str, title: str, drafts: Sequence[ChunkDraft]
) -> Source:
    """Make `drafts` the only chunks of the notes source `key` (inside the caller's transaction)."""
    source = get_or_create_source(session, "notes", key, title)
    session.execute(delete(Chunk).where(Chunk.source_id == source.id))
    _add_chunks(session, source, drafts)
    bump_revision(session, source)
    return source


def store_feed_entries(session: Session, source: Source, parsed: ParsedFeed) -> StoredEntries:
    """Insert unseen entries with their chunks; update edited ones in place (not new)."""
    keys = [e.key for e in parsed.entries]
    existing = {
        a.entry_key: a
        for a in session.scalars(
            select(Article).where(Article.source_id == source.id, Article.entry_key.in_(keys))
        )
    }
    new: list[Article] = []
    edited: list[Article] = []
    seen: set[str] = set()
    pending: list[tuple[Article, list[ChunkDraft]]] = []
    for entry in parsed.entries:
        if entry.key in seen:
            continue
        seen.add(entry.key)
        article = existing.get(entry.key)
        if article is not None and article.content_hash == entry.content_hash:
            continue
        if article is None:
            article = Article(source_id=source.id, entry_key=entry.key)
            session.add(article)
            new.append(article)
        else:
            session.execute(delete(Chunk).where(Chunk.article_id == article.id))
            edited.append(article)
        article.url = entry.url
        article.title = entry.title[:1024]
        article.author = (entry.author or "")[:512] or None
        article.published_at = entry.published_at
        article.updated_at = entry.updated_at
        # HTML is parsed once per entry: it is the costliest step of a cold poll.
        blocks = html_blocks(entry.content_html)
        text = blocks_text(blocks)
        if entry.summary_html and entry.summary_html != entry.content_html:
            summary = html_to_text(entry.summary_html)
        else:
            summary = text
        article.summary = summary
        article.text = text or summary
        article.tags = ", ".join(entry.tags)
        article.content_hash = entry.content_hash
        drafts = article_chunks(entry.title, blocks, entry.url, summary, article.tags)
        pending.append((article, drafts))
    if pending:
        session.flush()  # one batched INSERT gives every new article its id (document order)
        _insert_chunks(
            session, [row for a, drafts in pending for row in _chunk_rows(source, drafts, a.id)]
        )
    if new or edited:
        bump_revision(session, source)
    return StoredEntries(new, edited)


def source_revisions(session: Session) -> dict[int, int]:
    """Source id → revision, the cheap check an index runs before answering."""
    return {sid: rev for sid, rev in session.execute(select(Source.id, Source.revision))}


def as_indexed(chunk: Chunk, source_name: str) -> IndexedChunk:
    """A stored chunk in the shape the index keeps and hits carry."""
    return IndexedChunk(
        id=chunk.id,
        source_id=chunk.source_id,
        kind=chunk.kind,
        title=chunk.title,
        section=chunk.section,
        text=chunk.text,
        url=chunk.url,
        source_name=source_name,
        article_id=chunk.article_id,
        line_start=chunk.line_start,
        line_end=chunk.line_end,
    )


def indexed_chunks(session: Session, source_id: int) -> list[IndexedChunk]:
    """A source's chunks in the shape the index keeps, with the source's display name."""
    source = session.get(Source, source_id)
    if source is None:
        return []
    name = source.title or source.key
    rows = session.scalars(
        select(Chunk).where(Chunk.source_id == source_id).order_by(Chunk.position, Chunk.id)
    )
    return [as_indexed(c, name) for c in rows]


def count_sources(session: Session) -> int:
    """How many knowledge sources the store holds."""
    return session.scalar(select(func.count()).select_from(Source)) or 0


def feed_by_url(session: Session, url: str) -> Feed | None:
    """The feed stored under this URL (a trailing slash the user added is forgiven)."""
    feed = session.scalar(select(Feed).where(Feed.url == url))
    if feed is None and url.endswith("/"):
        feed = session.scalar(select(Feed).where(Feed.url == url.rstrip("/")))
    return feed
