"""delivery log: what kind of error last held up a delivery or notice (rate limit, timeout, …),
and an index to find a subscription's last post

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("deliveries", "notices"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("last_error_kind", sa.String(length=16), nullable=True))
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_deliveries_subscription_id_posted_at", ["subscription_id", "posted_at"]
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_subscription_id_posted_at")
    for table in ("deliveries", "notices"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("last_error_kind")
