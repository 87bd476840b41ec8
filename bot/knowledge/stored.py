"""Stored chunks in the shape the answer index keeps and hits carry."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import Chunk, Source
from bot.knowledge.index import IndexedChunk


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
