"""goals, and an index for reading one event name over time

Revision ID: 4fcc122219a5
Revises: 68bab8a295c6
Create Date: 2026-11-29 02:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "4fcc122219a5"
down_revision: str | None = "68bab8a295c6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "goal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("page", "event", name="goalkind", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("target", sa.String(), nullable=False),
        sa.Column("display_name", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["site.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("site_id", "display_name", name="ux_goal_site_name"),
    )
    with op.batch_alter_table("goal", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_goal_site_id"), ["site_id"], unique=False)
    with op.batch_alter_table("hit", schema=None) as batch_op:
        batch_op.create_index(
            "ix_hit_site_name_timestamp", ["site_id", "name", "timestamp"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("hit", schema=None) as batch_op:
        batch_op.drop_index("ix_hit_site_name_timestamp")
    with op.batch_alter_table("goal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_goal_site_id"))
    op.drop_table("goal")
