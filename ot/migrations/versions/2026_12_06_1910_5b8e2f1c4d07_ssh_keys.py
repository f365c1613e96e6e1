"""ssh keys: customers' SSH public keys, which open their terminal UI over SSH

Revision ID: 5b8e2f1c4d07
Revises: f47a1a8a5c6b
Create Date: 2026-12-06 19:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b8e2f1c4d07"
down_revision: str | None = "f47a1a8a5c6b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ssh_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(), nullable=False),
        sa.Column("key_type", sa.String(), nullable=False),
        sa.Column("public_key_encrypted", sa.String(), nullable=False),
        sa.Column("name_encrypted", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("fingerprint"),
    )
    with op.batch_alter_table("ssh_key", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ssh_key_account_id"), ["account_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ssh_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ssh_key_account_id"))
    op.drop_table("ssh_key")
