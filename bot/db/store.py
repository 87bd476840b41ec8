"""Intent-named store functions. The store decides what is new; callers own the session."""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, TypeVar

from sqlalchemy import Subquery, delete, func, insert, select, update
from sqlalchemy.orm import Session

from bot.chunks import ChunkDraft, chunk_text_hash
from bot.db.models import (
    Article,
    Chunk,
    Feed,
    Source,
    utcnow,
)
from bot.db.sql import aware

log = logging.getLogger(__name__)


class StorableEntry(Protocol):
    """What the store reads of a feed entry (bot.feeds.parse.ParsedEntry is one)."""

    @property
    def key(self) -> str: ...
    @property
    def link_key(self) -> str | None: ...
    @property
    def url(self) -> str | None: ...
    @property
    def title(self) -> str: ...
    @property
    def author(self) -> str | None: ...
    @property
    def published_at(self) -> datetime | None: ...
    @property
    def updated_at(self) -> datetime | None: ...
    @property
    def tags(self) -> Sequence[str]: ...
    @property
    def content_hash(self) -> str: ...


@dataclass(frozen=True)
class ArticleContent:
    """An entry's text as stored: plain text, summary, and the chunks answers are found in."""

    text: str
    summary: str
    chunks: Sequence[ChunkDraft]


E = TypeVar("E", bound=StorableEntry)

# A poll is a guid rewrite, not news, when at least this many entries (and more than half of the
# document) carry unknown keys but links that each belong to exactly one stored article.
REWRITE_MIN_ENTRIES = 2


@dataclass(frozen=True)
class StoredEntries:
    """What storing a feed document changed: articles first seen now, edited ones, and stored
    ones found again by their link after the feed rewrote their guids (never new)."""

    new: list[Article]
    edited: list[Article]
    rewritten: list[Article] = field(default_factory=list)


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
            "text_hash": chunk_text_hash(d.title[:1024], d.section[:1024], d.text),
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
    return replace_source_chunks(session, "notes", key, title, drafts)


def replace_source_chunks(
    session: Session, kind: str, key: str, title: str, drafts: Sequence[ChunkDraft]
) -> Source:
    """Make `drafts` the only chunks of the source `key` of this kind, created when missing."""
    source = get_or_create_source(session, kind, key, title)
    session.execute(delete(Chunk).where(Chunk.source_id == source.id))
    _add_chunks(session, source, drafts)
    bump_revision(session, source)
    return source


def _rewrites(
    session: Session,
    source_id: int,
    entries: Sequence[StorableEntry],
    existing: dict[str, Article],
) -> dict[str, Article]:
    """Stored articles the feed re-keyed: unknown key → the one article with that entry's link.

    Only when such entries are most of the document (a site changing its guid scheme, not a
    day of news) and each link is unique on both sides: feeds that give every entry the same
    link (a status page, a digest) keep announcing their new entries.
    """

    def most(n: int) -> bool:
        return n >= REWRITE_MIN_ENTRIES and n * 2 > len(entries)

    unknown = [e for e in entries if e.key not in existing]
    if not most(len(unknown)):
        return {}
    in_document = Counter(e.link_key for e in entries if e.link_key)
    candidates = {e.link_key: e for e in unknown if e.link_key and in_document[e.link_key] == 1}
    if not most(len(candidates)):
        return {}
    taken = {a.id for a in existing.values()}
    stored: dict[str, list[Article]] = {}
    for article in session.scalars(
        select(Article).where(
            Article.source_id == source_id, Article.link_key.in_(list(candidates))
        )
    ):
        stored.setdefault(article.link_key or "", []).append(article)
    found = {
        entry.key: articles[0]
        for link, entry in candidates.items()
        if len(articles := stored.get(link, [])) == 1 and articles[0].id not in taken
    }
    return found if most(len(found)) else {}


def store_feed_entries(
    session: Session,
    source: Source,
    document: Sequence[E],
    content: Callable[[E], ArticleContent],
) -> StoredEntries:
    """Insert unseen entries with their chunks; update edited ones in place (not new); re-key
    stored articles a guid rewrite renamed (not new either).

    `content` extracts an entry's text and chunks; it is called only for entries stored now.
    """
    entries: list[E] = []
    keys: set[str] = set()
    for entry in document:  # a key twice in one document: its first entry counts
        if entry.key not in keys:
            keys.add(entry.key)
            entries.append(entry)
    existing = {
        a.entry_key: a
        for a in session.scalars(
            select(Article).where(Article.source_id == source.id, Article.entry_key.in_(list(keys)))
        )
    }
    rekeyed = _rewrites(session, source.id, entries, existing)
    if rekeyed:
        log.info(
            "source %s: %d entries changed their guid but kept their link; matched to the "
            "stored articles, not announced",
            source.key,
            len(rekeyed),
        )
    new: list[Article] = []
    edited: list[Article] = []
    rewritten: list[Article] = []
    pending: list[tuple[Article, list[ChunkDraft]]] = []
    for entry in entries:
        article = existing.get(entry.key)
        if article is None and entry.key in rekeyed:
            article = rekeyed[entry.key]
            # The new identity from now on, so the next poll knows it by its key.
            article.entry_key = entry.key
            rewritten.append(article)
        if (
            article is not None
            and article.content_hash == entry.content_hash
            and article.url == entry.url
            and article.link_key == entry.link_key
        ):
            continue
        if article is None:
            article = Article(source_id=source.id, entry_key=entry.key)
            session.add(article)
            new.append(article)
        else:
            # New text or a new link (http → https): updated in place, never announced again.
            session.execute(delete(Chunk).where(Chunk.article_id == article.id))
            edited.append(article)
        article.url = entry.url
        article.link_key = entry.link_key
        article.title = entry.title[:1024]
        article.author = (entry.author or "")[:512] or None
        article.published_at = entry.published_at
        article.updated_at = entry.updated_at
        # Text extraction is the costliest step of a cold poll: only for what is stored.
        extracted = content(entry)
        article.summary = extracted.summary
        article.text = extracted.text
        article.tags = ", ".join(entry.tags)
        article.content_hash = entry.content_hash
        pending.append((article, list(extracted.chunks)))
    if pending:
        session.flush()  # one batched INSERT gives every new article its id (document order)
        _insert_chunks(
            session, [row for a, drafts in pending for row in _chunk_rows(source, drafts, a.id)]
        )
    if new or edited:
        bump_revision(session, source)
    return StoredEntries(new, edited, rewritten)


def feed_by_url(session: Session, url: str) -> Feed | None:
    """The feed stored under this URL (a trailing slash the user added is forgiven)."""
    feed = session.scalar(select(Feed).where(Feed.url == url))
    if feed is None and url.endswith("/"):
        feed = session.scalar(select(Feed).where(Feed.url == url.rstrip("/")))
    return feed


# -- notes sources (issue 7: notes stay in sync) ---------------------------------------------


@dataclass(frozen=True)
class NoteSourceView:
    """One indexed notes file as `notes list` shows it."""

    key: str
    title: str
    chunks: int
    loaded_at: datetime


def chunk_counts() -> Subquery:
    """A subquery of (source_id, n): how many chunks each source has (outer-join it)."""
    return select(Chunk.source_id, func.count().label("n")).group_by(Chunk.source_id).subquery()


def notes_sources(session: Session) -> list[NoteSourceView]:
    """Every notes source with its chunk count and when its current content was loaded."""
    chunks = chunk_counts()
    rows = session.execute(
        select(Source.key, Source.title, func.coalesce(chunks.c.n, 0), Source.updated_at)
        .outerjoin(chunks, chunks.c.source_id == Source.id)
        .where(Source.kind == "notes")
        .order_by(Source.key)
    )
    return [NoteSourceView(key, title, int(n), aware(at) or at) for key, title, n, at in rows]


def note_source_hashes(session: Session) -> dict[str, str | None]:
    """Notes source key → content hash of what is stored (None: loaded before hashes)."""
    rows = session.execute(select(Source.key, Source.content_hash).where(Source.kind == "notes"))
    return {key: content_hash for key, content_hash in rows}


def note_source_hash(session: Session, key: str, *, lock: bool = False) -> str | None:
    """The stored content hash of one notes source; `lock` holds its row until commit."""
    query = select(Source.content_hash).where(Source.kind == "notes", Source.key == key)
    # Locked before a reload, a second replica syncing the same file waits, then sees the new
    # hash and skips it, instead of interleaving its own delete-and-insert of the chunks.
    if lock:
        query = query.with_for_update()
    return session.scalar(query)


def set_note_source_hash(session: Session, key: str, content_hash: str) -> None:
    """Record the hash of the bytes a notes source's chunks were just made from."""
    session.execute(
        update(Source)
        .where(Source.kind == "notes", Source.key == key)
        .values(content_hash=content_hash)
    )


def notes_keys_under(session: Session, path: str) -> list[str]:
    """Keys of the notes sources at `path` or anywhere below it (a folder need not exist)."""
    prefix = path if path.endswith(os.sep) else path + os.sep
    return list(
        session.scalars(
            select(Source.key)
            .where(
                Source.kind == "notes",
                (Source.key == path) | Source.key.startswith(prefix, autoescape=True),
            )
            .order_by(Source.key)
        )
    )


def remove_notes_sources(session: Session, keys: Collection[str]) -> int:
    """Delete these notes sources with their chunks; returns how many were removed."""
    if not keys:
        return 0
    result = session.execute(
        delete(Source).where(Source.kind == "notes", Source.key.in_(list(keys)))
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
