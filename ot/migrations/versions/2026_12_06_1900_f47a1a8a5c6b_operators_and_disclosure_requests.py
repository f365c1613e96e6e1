"""operators appointed to roles, and lawful disclosure requests

Revision ID: f47a1a8a5c6b
Revises: a3f9c1d27e58
Create Date: 2026-12-06 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f47a1a8a5c6b"
down_revision: str | None = "a3f9c1d27e58"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT = sa.text("ended_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "operator_appointment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("login", sa.String(length=32), nullable=False),
        sa.Column(
            "role",
            sa.Enum("admin", "billing", "legal", name="operatorrole", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("appointed_by", sa.String(length=32), nullable=False),
        sa.Column("appointed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_by", sa.String(length=32), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("operator_appointment", schema=None) as batch_op:
        batch_op.create_index(
            "ux_operator_appointment_current",
            ["login", "role"],
            unique=True,
            sqlite_where=CURRENT,
            postgresql_where=CURRENT,
        )

    op.create_table(
        "disclosure_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "opened",
                "approved",
                "rejected",
                name="disclosurestate",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column(
            "jurisdiction",
            sa.Enum("nl", "us", name="jurisdiction", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("authority_encrypted", sa.String(), nullable=False),
        sa.Column("legal_basis_encrypted", sa.String(), nullable=False),
        sa.Column("reference_encrypted", sa.String(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("site_ids", sa.JSON(), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("gagged", sa.Boolean(), nullable=False),
        sa.Column("gag_ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("opened_by", sa.String(length=32), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=32), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note_encrypted", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("disclosure_request", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_disclosure_request_account_id"), ["account_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("disclosure_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_disclosure_request_account_id"))
    op.drop_table("disclosure_request")
    with op.batch_alter_table("operator_appointment", schema=None) as batch_op:
        batch_op.drop_index("ux_operator_appointment_current")
    op.drop_table("operator_appointment")
