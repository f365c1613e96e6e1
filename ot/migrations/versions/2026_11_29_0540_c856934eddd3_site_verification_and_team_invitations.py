"""site verification and team invitations

Revision ID: c856934eddd3
Revises: 08c09abc6266
Create Date: 2026-11-29 05:03:17.354255
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c856934eddd3"
down_revision: str | None = "08c09abc6266"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "invitation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("email_encrypted", sa.String(), nullable=False),
        sa.Column(
            "role",
            sa.Enum("owner", "admin", "viewer", name="memberrole", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("token_hash", sa.String(), nullable=False),
        sa.Column("invited_by", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted_by", sa.Integer(), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["accepted_by"],
            ["account.id"],
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
        ),
        sa.ForeignKeyConstraint(
            ["invited_by"],
            ["account.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("invitation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_invitation_account_id"), ["account_id"], unique=False)

    with op.batch_alter_table("site", schema=None) as batch_op:
        batch_op.add_column(sa.Column("verification_token", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("site", schema=None) as batch_op:
        batch_op.drop_column("verified_at")
        batch_op.drop_column("verification_token")

    with op.batch_alter_table("invitation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invitation_account_id"))

    op.drop_table("invitation")
