"""unanswered threads: channel threads where a mention got "I don't know", and whether the first
human reply there was offered to be saved as a note

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "unanswered_threads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("thread_ts", sa.String(length=32), nullable=False),
        sa.Column("asker_id", sa.String(length=32), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replier_id", sa.String(length=32), nullable=True),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unanswered_threads")),
        sa.UniqueConstraint(
            "channel_id", "thread_ts", name=op.f("uq_unanswered_threads_channel_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("unanswered_threads")
