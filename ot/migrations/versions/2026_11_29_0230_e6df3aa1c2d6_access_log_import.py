"""access-log import: status and size of imported hits, and how far each log was imported

Revision ID: e6df3aa1c2d6
Revises: 4fcc122219a5
Create Date: 2026-11-29 02:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e6df3aa1c2d6"
down_revision: str | None = "4fcc122219a5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("hit", schema=None) as batch_op:
        batch_op.add_column(sa.Column("http_status", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("response_bytes", sa.BigInteger(), nullable=True))

    op.create_table(
        "log_import",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("file_identity", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("byte_offset", sa.BigInteger(), nullable=False),
        sa.Column("lines_read", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["site.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("log_import", schema=None) as batch_op:
        batch_op.create_index("ux_log_import_site_file", ["site_id", "file_identity"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("log_import", schema=None) as batch_op:
        batch_op.drop_index("ux_log_import_site_file")
    op.drop_table("log_import")
    with op.batch_alter_table("hit", schema=None) as batch_op:
        batch_op.drop_column("response_bytes")
        batch_op.drop_column("http_status")
