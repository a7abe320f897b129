"""ingest: the cameras' daily decision counts from the edge heartbeats (accepted / review / unknown)

Revision ID: ingest_0003
Revises: ingest_0002
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from central_server.core.db import UTCDateTime

revision = "ingest_0003"
down_revision = "ingest_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_edge_decisions",
        sa.Column("school", sa.String(32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("since", UTCDateTime(), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("review", sa.Integer(), nullable=False),
        sa.Column("unknown", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("school", "day", "since", name="pk_ingest_edge_decisions"),
    )
    op.create_index("ix_ingest_edge_decisions_day", "ingest_edge_decisions", ["day"])


def downgrade() -> None:
    op.drop_index("ix_ingest_edge_decisions_day", table_name="ingest_edge_decisions")
    op.drop_table("ingest_edge_decisions")
