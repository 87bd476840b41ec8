"""embeddings: a text hash per chunk and one stored vector per (model, text hash)

Revision ID: 0005
Revises: 0004
"""

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _text_hash(title: str, section: str, text: str) -> str:
    # Same rule as bot.knowledge.chunk.chunk_text_hash, frozen here so this migration never changes.
    digest = hashlib.sha256()
    for part in (title, section, text):
        digest.update((part or "").encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()


def upgrade() -> None:
    with op.batch_alter_table("chunks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("text_hash", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_chunks_text_hash"), ["text_hash"], unique=False)
    op.create_table(
        "chunk_embeddings",
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("text_hash", sa.String(length=64), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("model", "text_hash", name=op.f("pk_chunk_embeddings")),
    )
    # Existing chunks get their hash now, so their vectors are computed once, like new ones.
    conn = op.get_bind()
    chunks = sa.table(
        "chunks",
        sa.column("id", sa.Integer),
        sa.column("title", sa.String),
        sa.column("section", sa.String),
        sa.column("text", sa.Text),
        sa.column("text_hash", sa.String),
    )
    rows = conn.execute(sa.select(chunks.c.id, chunks.c.title, chunks.c.section, chunks.c.text))
    updates = [{"cid": r.id, "h": _text_hash(r.title, r.section, r.text)} for r in rows]
    if updates:
        conn.execute(
            chunks.update()
            .where(chunks.c.id == sa.bindparam("cid"))
            .values(text_hash=sa.bindparam("h")),
            updates,
        )


def downgrade() -> None:
    op.drop_table("chunk_embeddings")
    with op.batch_alter_table("chunks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chunks_text_hash"))
        batch_op.drop_column("text_hash")
