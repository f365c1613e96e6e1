"""invoice refunded amount: the sum of a sale's refunds, partial ones included

Revision ID: d2e3f4a5b6c7
Revises: c7d8e9f0a1b2
Create Date: 2026-12-07 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d2e3f4a5b6c7"
down_revision: str | None = "c7d8e9f0a1b2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("invoice", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "refunded_amount",
                sa.Numeric(precision=12, scale=2),
                server_default="0",
                nullable=False,
            )
        )
    # Invoices refunded before partial refunds were told apart were refunded whole.
    op.execute("UPDATE invoice SET refunded_amount = amount WHERE state = 'refunded'")


def downgrade() -> None:
    with op.batch_alter_table("invoice", schema=None) as batch_op:
        batch_op.drop_column("refunded_amount")
