"""disclosure exports and notices: partial approvals, the bundle's hash, the customer told

Revision ID: 9c3d5e7f1a2b
Revises: 5b8e2f1c4d07
Create Date: 2026-12-06 20:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9c3d5e7f1a2b"
down_revision: str | None = "5b8e2f1c4d07"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = [
    ("approved_site_ids", sa.JSON()),
    ("approved_categories", sa.JSON()),
    ("exported_by", sa.String(length=32)),
    ("exported_at", sa.DateTime(timezone=True)),
    ("bundle_sha256", sa.String(length=64)),
    ("notified_by", sa.String(length=32)),
    ("notified_at", sa.DateTime(timezone=True)),
]


def upgrade() -> None:
    with op.batch_alter_table("disclosure_request", schema=None) as batch_op:
        for name, kind in COLUMNS:
            batch_op.add_column(sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("disclosure_request", schema=None) as batch_op:
        for name, _ in reversed(COLUMNS):
            batch_op.drop_column(name)
