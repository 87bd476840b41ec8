"""digests and daily threads: a subscription's digest schedule and thread mode, digest messages,
day-thread parents, and which digest or thread each delivery belongs to

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _outbox_columns() -> list[sa.Column]:
    return [
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("sort_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        # As 0010 added them to deliveries and notices: the retry and reconcile state.
        sa.Column("refusals", sa.Integer(), server_default="0", nullable=False),
        sa.Column("unsure", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("first_claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_kind", sa.String(length=16), nullable=True),
        sa.Column("message_ts", sa.String(length=32), nullable=True),
    ]


def upgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("digest", sa.String(length=96), nullable=True))
        batch_op.add_column(sa.Column("thread", sa.String(length=96), nullable=True))
    op.create_table(
        "digest_posts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("slot", sa.DateTime(timezone=True), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        *_outbox_columns(),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_digest_posts_subscription_id_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digest_posts")),
        sa.UniqueConstraint(
            "subscription_id", "slot", "part", name=op.f("uq_digest_posts_subscription_id")
        ),
    )
    op.create_index(
        "ix_digest_posts_state_next_attempt_at", "digest_posts", ["state", "next_attempt_at"]
    )
    op.create_table(
        "thread_posts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        *_outbox_columns(),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_thread_posts_subscription_id_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_thread_posts")),
        sa.UniqueConstraint("subscription_id", "day", name=op.f("uq_thread_posts_subscription_id")),
    )
    op.create_index(
        "ix_thread_posts_state_next_attempt_at", "thread_posts", ["state", "next_attempt_at"]
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("digest_post_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("thread_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_deliveries_digest_post_id_digest_posts"),
            "digest_posts",
            ["digest_post_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_deliveries_thread_id_thread_posts"),
            "thread_posts",
            ["thread_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index(batch_op.f("ix_deliveries_digest_post_id"), ["digest_post_id"])
        batch_op.create_index(batch_op.f("ix_deliveries_thread_id"), ["thread_id"])


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deliveries_thread_id"))
        batch_op.drop_index(batch_op.f("ix_deliveries_digest_post_id"))
        batch_op.drop_constraint(
            batch_op.f("fk_deliveries_thread_id_thread_posts"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_deliveries_digest_post_id_digest_posts"), type_="foreignkey"
        )
        batch_op.drop_column("thread_id")
        batch_op.drop_column("digest_post_id")
    op.drop_index("ix_thread_posts_state_next_attempt_at", table_name="thread_posts")
    op.drop_table("thread_posts")
    op.drop_index("ix_digest_posts_state_next_attempt_at", table_name="digest_posts")
    op.drop_table("digest_posts")
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_column("thread")
        batch_op.drop_column("digest")
