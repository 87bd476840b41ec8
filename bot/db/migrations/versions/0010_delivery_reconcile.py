"""no loss, no blind re-posts: Slack's refusals counted apart from other failures, a flag for
posts whose outcome is unknown, and when a post was first claimed (where to look in history)

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("deliveries", "notices"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("refusals", sa.Integer(), server_default="0", nullable=False)
            )
            batch_op.add_column(
                sa.Column("unsure", sa.Boolean(), server_default=sa.false(), nullable=False)
            )
            batch_op.add_column(
                sa.Column("first_claimed_at", sa.DateTime(timezone=True), nullable=True)
            )


def downgrade() -> None:
    for table in ("deliveries", "notices"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("first_claimed_at")
            batch_op.drop_column("unsure")
            batch_op.drop_column("refusals")
