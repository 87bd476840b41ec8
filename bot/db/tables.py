"""The tables an answer reads, as SQLAlchemy Core: sources, chunks, their embeddings, votes and
the cached index.

A cold `devopsbot ask` reads them on a bare Connection without importing the ORM (a third of
its start-up); bot.db.models maps its classes onto these same Table objects, so there is one
schema definition and Alembic sees one metadata.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    """Timezone-aware now; every timestamp we store is UTC."""
    return datetime.now(UTC)


def _when(name: str, *, onupdate: bool = False) -> Column[datetime]:
    return Column(
        name,
        DateTime(timezone=True),
        nullable=False,
        default=utcnow,
        onupdate=utcnow if onupdate else None,
    )


# Where chunks come from: a Markdown notes file or a feed. `revision` bumps on any change.
sources = Table(
    "sources",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),  # "notes" | "feed" | "slack"
    # path, feed URL, or for a note saved from Slack `slack:<team>/<channel>/<ts>`
    Column("key", String(2048), nullable=False, unique=True),
    Column("title", String(512), nullable=False, default=""),
    Column("revision", Integer, nullable=False, default=1),
    # sha256 of a notes file's bytes when its chunks were made: an unchanged file is skipped.
    Column("content_hash", String(64)),
    _when("created_at"),
    _when("updated_at", onupdate=True),
)

# The unit we rank: one note bullet/code block/paragraph, or one article section.
chunks = Table(
    "chunks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("source_id", Integer, ForeignKey("sources.id", ondelete="CASCADE"), nullable=False),
    Column("article_id", Integer, ForeignKey("articles.id", ondelete="CASCADE"), index=True),
    Column("kind", String(16), nullable=False),  # "note" | "article"
    Column("title", String(1024), nullable=False, default=""),
    Column("section", String(1024), nullable=False, default=""),
    Column("text", Text, nullable=False),
    Column("url", String(2048)),
    Column("position", Integer, nullable=False, default=0),
    Column("line_start", Integer),
    Column("line_end", Integer),
    # sha256 of (title, section, text): the key of the chunk's stored embedding.
    Column("text_hash", String(64), index=True),
    Index("ix_chunks_source_position", "source_id", "position"),
)

# The answer index as last built from the store, keyed by what it was built from: a CLI call
# on an unchanged store loads it instead of re-tokenizing every chunk.
index_cache = Table(
    "index_cache",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("data", LargeBinary, nullable=False),
    _when("created_at"),
)

# A chunk text's sentence embedding, computed once per (model, text) and shared.
chunk_embeddings = Table(
    "chunk_embeddings",
    metadata,
    Column("model", String(64), primary_key=True),
    Column("text_hash", String(64), primary_key=True),
    Column("vector", LargeBinary, nullable=False),
    _when("created_at"),
)

# A 👍/👎 on an answer; one vote per (user, chunk, question), a second click changes it.
answer_feedback = Table(
    "answer_feedback",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("question", Text, nullable=False),
    Column("question_key", String(64), nullable=False),  # sha256 of the normalized question
    # No foreign key: reloading notes replaces chunks, and the vote is still worth keeping.
    Column("chunk_id", Integer, nullable=False, index=True),
    Column("chunk_title", String(1024), nullable=False, default=""),
    Column("user_id", String(32), nullable=False),
    Column("value", Integer, nullable=False),  # +1 or -1
    _when("created_at"),
    _when("updated_at", onupdate=True),
    UniqueConstraint("user_id", "chunk_id", "question_key"),
)
