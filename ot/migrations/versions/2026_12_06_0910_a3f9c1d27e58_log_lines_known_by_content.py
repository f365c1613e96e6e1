"""access-log import: lines known by what they are, positions with their switches

Hits imported from a log now have ids made of the line itself; a log's position keeps the
switches it was imported with and the counts of the identical lines of its last seconds. The logs
imported until now are marked: their hits' ids are made of their place in the log.

Revision ID: a3f9c1d27e58
Revises: 46c1f9ff5664
Create Date: 2026-12-06 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a3f9c1d27e58"
down_revision: str | None = "46c1f9ff5664"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("log_import", schema=None) as batch_op:
        batch_op.add_column(sa.Column("switches", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("line_counts", sa.String(), nullable=True))
        # Every log imported so far was imported with position-based ids.
        batch_op.add_column(
            sa.Column("position_based_ids", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    with op.batch_alter_table("log_import", schema=None) as batch_op:
        batch_op.alter_column("position_based_ids", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("log_import", schema=None) as batch_op:
        batch_op.drop_column("position_based_ids")
        batch_op.drop_column("line_counts")
        batch_op.drop_column("switches")
