"""mail quota: mails anyone could make us send to one address, counted to cap them

Revision ID: 46c1f9ff5664
Revises: f7722e5a34ff
Create Date: 2026-12-06 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "46c1f9ff5664"
down_revision: str | None = "f7722e5a34ff"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mail_quota",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("period_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mails", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("mail_quota", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_mail_quota_period_started_at"), ["period_started_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("mail_quota", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mail_quota_period_started_at"))
    op.drop_table("mail_quota")
