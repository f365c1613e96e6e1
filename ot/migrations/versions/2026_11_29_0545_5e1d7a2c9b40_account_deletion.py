"""account deletion requests (the customer's right to be forgotten)

Revision ID: 5e1d7a2c9b40
Revises: c856934eddd3
Create Date: 2026-11-29 05:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e1d7a2c9b40"
down_revision: str | None = "c856934eddd3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "account_deletion",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("purge_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"]),
        sa.PrimaryKeyConstraint("account_id"),
    )
    with op.batch_alter_table("account_deletion", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_account_deletion_purge_after"), ["purge_after"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("account_deletion", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_deletion_purge_after"))
    op.drop_table("account_deletion")
