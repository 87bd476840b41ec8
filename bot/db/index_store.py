"""What the answer index writes to the store, and the reads that feed an index build, in
SQLAlchemy Core (the reads answering needs are plain SQL, in bot.db.reads).

Every function takes a Session or a bare Connection: the bot passes its sessions, and a cold
`devopsbot ask` that has to build its index a Connection, so it never imports the ORM.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence

from sqlalchemy import ColumnElement, delete, func, insert, select

from bot.db.sql import Store, insert_ignoring_duplicates
from bot.db.tables import (
    chunk_embeddings,
    chunks,
    index_cache,
    sources,
    utcnow,
)


def _vector_of(model: str) -> ColumnElement[bool]:
    """Join condition: the chunk's stored vector for `model`."""
    return (chunk_embeddings.c.text_hash == chunks.c.text_hash) & (
        chunk_embeddings.c.model == model
    )


def chunks_without_embedding(
    store: Store, model: str, limit: int = 256
) -> list[tuple[str, str, str, str]]:
    """Up to `limit` distinct (text_hash, title, section, text) that have no vector for `model`."""
    missing = (
        select(chunks.c.text_hash, func.min(chunks.c.id).label("cid"))
        .outerjoin(chunk_embeddings, _vector_of(model))
        .where(chunk_embeddings.c.text_hash.is_(None), chunks.c.text_hash.is_not(None))
        .group_by(chunks.c.text_hash)
        .limit(limit)
        .subquery()
    )
    rows = store.execute(
        select(chunks.c.text_hash, chunks.c.title, chunks.c.section, chunks.c.text).join(
            missing, missing.c.cid == chunks.c.id
        )
    )
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def hashes_without_embedding(store: Store, model: str, among: Collection[str]) -> set[str]:
    """Which of these text hashes stored chunks have, with no vector for `model` yet."""
    hashes = list(among)
    out: set[str] = set()
    for start in range(0, len(hashes), 500):  # stay under every driver's bound-parameter limit
        stmt = (
            select(chunks.c.text_hash)
            .outerjoin(chunk_embeddings, _vector_of(model))
            .where(chunks.c.text_hash.in_(hashes[start : start + 500]))
            .where(chunk_embeddings.c.text_hash.is_(None))
            .distinct()
        )
        out.update(store.execute(stmt).scalars())
    return out


def save_embeddings(store: Store, model: str, vectors: Sequence[tuple[str, bytes]]) -> None:
    """Store vectors by text hash; one another replica stored first is kept, not an error."""
    rows = [
        {"model": model, "text_hash": h, "vector": v, "created_at": utcnow()} for h, v in vectors
    ]
    insert_ignoring_duplicates(store, chunk_embeddings, rows)


def index_rows(store: Store, source_ids: Collection[int], model: str) -> Iterator[tuple]:
    """Chunks of these sources with their source's name and stored vector (None if missing).

    One joined query, rows as plain tuples: (id, source_id, kind, title, section, text, url,
    source name, article_id, line_start, line_end, vector bytes), ordered by source and position.
    """
    ids = sorted(source_ids)
    c = chunks.c
    for start in range(0, len(ids), 500):  # stay under every driver's bound-parameter limit
        stmt = (
            select(
                c.id,
                c.source_id,
                c.kind,
                c.title,
                c.section,
                c.text,
                c.url,
                func.coalesce(func.nullif(sources.c.title, ""), sources.c.key),
                c.article_id,
                c.line_start,
                c.line_end,
                chunk_embeddings.c.vector,
            )
            .join(sources, sources.c.id == c.source_id)
            .outerjoin(chunk_embeddings, _vector_of(model))
            .where(c.source_id.in_(ids[start : start + 500]))
            .order_by(c.source_id, c.position, c.id)
            # Streamed: a whole result is buffered otherwise, and at 100,000 chunks every row
            # with its vector bytes held at once would add a third to the index's memory.
            .execution_options(yield_per=1000)
        )
        yield from (tuple(r) for r in store.execute(stmt))


def save_index_cache(store: Store, name: str, fingerprint: str, data: bytes) -> None:
    """Replace the cached index (one per name)."""
    store.execute(delete(index_cache).where(index_cache.c.name == name))
    store.execute(insert(index_cache).values(name=name, fingerprint=fingerprint, data=data))
