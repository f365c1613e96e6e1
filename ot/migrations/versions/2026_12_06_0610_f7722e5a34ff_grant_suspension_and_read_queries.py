"""suspended grants, and the whole query of each read through a grant (encrypted)

Revision ID: f7722e5a34ff
Revises: 9c3f1a7d2e58
Create Date: 2026-12-06 06:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f7722e5a34ff"
down_revision: str | None = "9c3f1a7d2e58"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("access_grant", schema=None) as batch_op:
        batch_op.add_column(sa.Column("suspended_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("suspended_reason", sa.String(), nullable=True))
    with op.batch_alter_table("grant_read", schema=None) as batch_op:
        batch_op.add_column(sa.Column("query_encrypted", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("grant_read", schema=None) as batch_op:
        batch_op.drop_column("query_encrypted")
    with op.batch_alter_table("access_grant", schema=None) as batch_op:
        batch_op.drop_column("suspended_reason")
        batch_op.drop_column("suspended_at")
