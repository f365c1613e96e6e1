"""initial schema

Revision ID: 68bab8a295c6
Revises:
Create Date: 2026-11-28 23:41:52.420577
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "68bab8a295c6"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name_encrypted", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "visitor_salt",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("salt", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("day"),
    )
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("token_hash", sa.String(), nullable=False),
        sa.Column("prefix", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_token_account_id"), ["account_id"], unique=False)

    op.create_table(
        "site",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("timezone", sa.String(), nullable=False),
        sa.Column(
            "visitor_mode",
            sa.Enum("cookie", "cookieless", name="visitormode", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column(
            "ip_policy",
            sa.Enum("full", "truncated", "none", name="ippolicy", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("excluded_ips", sa.JSON(), nullable=False),
        sa.Column("excluded_paths", sa.JSON(), nullable=False),
        sa.Column("hash_routing", sa.Boolean(), nullable=False),
        sa.Column("respect_do_not_track", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("domain"),
    )
    with op.batch_alter_table("site", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_site_account_id"), ["account_id"], unique=False)

    op.create_table(
        "dropped_hits",
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["site.id"],
        ),
        sa.PrimaryKeyConstraint("site_id", "day", "reason"),
    )
    op.create_table(
        "hit",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("visitor_id", sa.BigInteger(), nullable=False),
        sa.Column("visit_id", sa.BigInteger(), nullable=False),
        sa.Column("hostname", sa.String(), nullable=False),
        sa.Column("pathname", sa.String(), nullable=False),
        sa.Column("query", sa.String(), nullable=False),
        sa.Column("referrer", sa.String(), nullable=False),
        sa.Column("referrer_source", sa.String(), nullable=False),
        sa.Column("utm_source", sa.String(), nullable=False),
        sa.Column("utm_medium", sa.String(), nullable=False),
        sa.Column("utm_campaign", sa.String(), nullable=False),
        sa.Column("utm_content", sa.String(), nullable=False),
        sa.Column("utm_term", sa.String(), nullable=False),
        sa.Column("browser", sa.String(), nullable=False),
        sa.Column("browser_version", sa.String(), nullable=False),
        sa.Column("os", sa.String(), nullable=False),
        sa.Column("os_version", sa.String(), nullable=False),
        sa.Column("device", sa.String(), nullable=False),
        sa.Column("country", sa.String(), nullable=False),
        sa.Column("region", sa.String(), nullable=False),
        sa.Column("city", sa.String(), nullable=False),
        sa.Column("language", sa.String(), nullable=False),
        sa.Column("screen", sa.String(), nullable=False),
        sa.Column("props", sa.JSON(), nullable=False),
        sa.Column("revenue_amount", sa.Numeric(precision=22, scale=4), nullable=True),
        sa.Column("revenue_currency", sa.String(), nullable=False),
        sa.Column("interactive", sa.Boolean(), nullable=False),
        sa.Column("event_id", sa.String(), nullable=True),
        sa.Column("ip_encrypted", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["site.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("hit", schema=None) as batch_op:
        batch_op.create_index("ix_hit_site_timestamp", ["site_id", "timestamp"], unique=False)
        batch_op.create_index("ix_hit_visit", ["visit_id"], unique=False)
        batch_op.create_index("ux_hit_site_event_id", ["site_id", "event_id"], unique=True)

    op.create_table(
        "visit",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("visitor_id", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("entry_page", sa.String(), nullable=False),
        sa.Column("exit_page", sa.String(), nullable=False),
        sa.Column("hostname", sa.String(), nullable=False),
        sa.Column("pageviews", sa.Integer(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("interactions", sa.Integer(), nullable=False),
        sa.Column("is_bounce", sa.Boolean(), nullable=False),
        sa.Column("duration_seconds", sa.Integer(), nullable=False),
        sa.Column("referrer", sa.String(), nullable=False),
        sa.Column("referrer_source", sa.String(), nullable=False),
        sa.Column("utm_source", sa.String(), nullable=False),
        sa.Column("utm_medium", sa.String(), nullable=False),
        sa.Column("utm_campaign", sa.String(), nullable=False),
        sa.Column("utm_content", sa.String(), nullable=False),
        sa.Column("utm_term", sa.String(), nullable=False),
        sa.Column("browser", sa.String(), nullable=False),
        sa.Column("browser_version", sa.String(), nullable=False),
        sa.Column("os", sa.String(), nullable=False),
        sa.Column("os_version", sa.String(), nullable=False),
        sa.Column("device", sa.String(), nullable=False),
        sa.Column("country", sa.String(), nullable=False),
        sa.Column("region", sa.String(), nullable=False),
        sa.Column("city", sa.String(), nullable=False),
        sa.Column("language", sa.String(), nullable=False),
        sa.Column("screen", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["site.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("visit", schema=None) as batch_op:
        batch_op.create_index("ix_visit_site_started", ["site_id", "started_at"], unique=False)
        batch_op.create_index(
            "ix_visit_site_visitor_last_seen",
            ["site_id", "visitor_id", "last_seen_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("visit", schema=None) as batch_op:
        batch_op.drop_index("ix_visit_site_visitor_last_seen")
        batch_op.drop_index("ix_visit_site_started")

    op.drop_table("visit")
    with op.batch_alter_table("hit", schema=None) as batch_op:
        batch_op.drop_index("ux_hit_site_event_id")
        batch_op.drop_index("ix_hit_visit")
        batch_op.drop_index("ix_hit_site_timestamp")

    op.drop_table("hit")
    op.drop_table("dropped_hits")
    with op.batch_alter_table("site", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_site_account_id"))

    op.drop_table("site")
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_token_account_id"))

    op.drop_table("api_token")
    op.drop_table("visitor_salt")
    op.drop_table("account")
