"""notes saved from Slack: the metadata of a `slack` source (title, section, the text as saved,
who wrote and who saved it, channel, message ts, permalink, private-channel flag)

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slack_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=512), nullable=False),
        sa.Column("section", sa.String(length=512), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("author_id", sa.String(length=32), nullable=True),
        sa.Column("saver_id", sa.String(length=32), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=True),
        sa.Column("channel_id", sa.String(length=32), nullable=True),
        sa.Column("channel_name", sa.String(length=255), nullable=False),
        sa.Column("message_ts", sa.String(length=32), nullable=True),
        sa.Column("permalink", sa.String(length=2048), nullable=True),
        sa.Column("private", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
            name=op.f("fk_slack_notes_source_id_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slack_notes")),
        sa.UniqueConstraint("source_id", name=op.f("uq_slack_notes_source_id")),
    )
    with op.batch_alter_table("slack_notes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_slack_notes_saver_id"), ["saver_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("slack_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_slack_notes_saver_id"))
    op.drop_table("slack_notes")
