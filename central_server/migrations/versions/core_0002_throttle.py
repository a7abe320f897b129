"""core: sliding-window throttle counters (sign-in per client and per account+client, edit codes)

Revision ID: core_0002_throttle
Revises: 0001_core
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from central_server.core.db import UTCDateTime

revision = "core_0002_throttle"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "throttle_hits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(32), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_throttle_hits")),
    )
    op.create_index("ix_throttle_hits_scope_key_at", "throttle_hits", ["scope", "key_hash", "at"])


def downgrade() -> None:
    op.drop_table("throttle_hits")
