"""ingest: stored events, quarantine, school keys, edge status

Revision ID: ingest_0001
Revises:
Create Date: 2025-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from central_server.core.db import UTCDateTime

revision = "ingest_0001"
down_revision = None
branch_labels = ("ingest",)
depends_on = "0001_core"


def upgrade() -> None:
    op.create_table(
        "ingest_events",
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("school", sa.String(32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("student_id", sa.String(12), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("stored_at", UTCDateTime(), nullable=False),
        sa.Column("sig", sa.String(64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column("apply_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("event_id", name="pk_ingest_events"),
        sa.UniqueConstraint("school", "seq", name="uq_ingest_events_school"),
    )
    op.create_table(
        "ingest_quarantine",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("school", sa.String(64), nullable=True),
        sa.Column("event_id", sa.String(36), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("payload_size", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ingest_quarantine"),
    )
    op.create_index("ix_ingest_quarantine_reason", "ingest_quarantine", ["reason"])
    op.create_table(
        "ingest_school_keys",
        sa.Column("school", sa.String(32), nullable=False),
        sa.Column("key_hex", sa.String(128), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("school", name="pk_ingest_school_keys"),
    )
    op.create_table(
        "ingest_edge_status",
        sa.Column("school", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("outbox_backlog", sa.Integer(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("school", name="pk_ingest_edge_status"),
    )


def downgrade() -> None:
    op.drop_table("ingest_edge_status")
    op.drop_table("ingest_school_keys")
    op.drop_index("ix_ingest_quarantine_reason", table_name="ingest_quarantine")
    op.drop_table("ingest_quarantine")
    op.drop_table("ingest_events")
