"""void site verifications that rested on a hit (the `tracker_seen` method)

A hit naming a domain can be sent by anyone, so a site verified that way proved nothing; now that
verification decides who may keep a domain (claims), such sites are unverified again and their
owners verify them by DNS or by file. Which sites: those whose `site.verified` audit entry names
the method `tracker_seen`. Data only; no table changes.

Revision ID: 9c3f1a7d2e58
Revises: 5e1d7a2c9b40
Create Date: 2026-12-06 06:00:00.000000
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9c3f1a7d2e58"
down_revision: str | None = "5e1d7a2c9b40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(
        sa.text("SELECT details FROM audit_entry WHERE action = 'site.verified'")
    ).all()
    site_ids = set()
    for (details,) in rows:
        values = json.loads(details) if isinstance(details, str) else details
        if isinstance(values, dict) and values.get("method") == "tracker_seen":
            site_ids.add(int(values["site_id"]))
    for site_id in sorted(site_ids):
        connection.execute(
            sa.text("UPDATE site SET verified_at = NULL WHERE id = :id"), {"id": site_id}
        )


def downgrade() -> None:
    pass  # what the upgrade voided was never a proof; nothing to restore
