"""rollups: per-day sums and visitor bitmaps for fast dashboards

Revision ID: c3d1a7e5f9b2
Revises: e6df3aa1c2d6
Create Date: 2026-11-29 02:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c3d1a7e5f9b2"
down_revision: str | None = "e6df3aa1c2d6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "visitor_ordinal",
        sa.Column("site_id", sa.Integer(), sa.ForeignKey("site.id"), nullable=False),
        sa.Column("visitor_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "visitor_id"),
    )
    op.create_index(
        "ux_visitor_ordinal_site_ordinal", "visitor_ordinal", ["site_id", "ordinal"], unique=True
    )
    op.create_table(
        "rollup_day",
        sa.Column("site_id", sa.Integer(), sa.ForeignKey("site.id"), nullable=False),
        sa.Column("dimension", sa.String(), nullable=False),
        sa.Column("span_days", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("value", sa.String(), nullable=False),
        sa.Column("visitors", sa.Integer(), nullable=False),
        sa.Column("daily_visitors", sa.Integer(), nullable=False),
        sa.Column("pageviews", sa.Integer(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("visits", sa.Integer(), nullable=False),
        sa.Column("visit_pageviews", sa.Integer(), nullable=False),
        sa.Column("bounces", sa.Integer(), nullable=False),
        sa.Column("duration_seconds", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "dimension", "span_days", "day", "value"),
    )
    op.create_index("ix_rollup_day_site_day", "rollup_day", ["site_id", "day"])
    op.create_table(
        "rollup_bitmap",
        sa.Column("site_id", sa.Integer(), sa.ForeignKey("site.id"), nullable=False),
        sa.Column("dimension", sa.String(), nullable=False),
        sa.Column("span_days", sa.Integer(), nullable=False),
        sa.Column("value", sa.String(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("visitor_bitmap", sa.LargeBinary(), nullable=False),
        sa.Column("visit_bitmap", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "dimension", "span_days", "value", "day"),
    )
    op.create_index("ix_rollup_bitmap_site_day", "rollup_bitmap", ["site_id", "day"])
    op.create_table(
        "rollup_pending_day",
        sa.Column("site_id", sa.Integer(), sa.ForeignKey("site.id"), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "day"),
    )
    op.create_table(
        "rollup_progress",
        sa.Column("site_id", sa.Integer(), sa.ForeignKey("site.id"), nullable=False),
        sa.Column("timezone", sa.String(), nullable=False),
        sa.Column("hit_watermark", sa.BigInteger(), nullable=False),
        sa.Column("next_ordinal", sa.Integer(), nullable=False),
        sa.Column("complete_through", sa.Date(), nullable=True),
        sa.Column("rolled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("site_id"),
    )


def downgrade() -> None:
    op.drop_table("rollup_progress")
    op.drop_table("rollup_pending_day")
    op.drop_table("rollup_bitmap")
    op.drop_table("rollup_day")
    op.drop_table("visitor_ordinal")
