"""ingest: outbox of control messages (erasure requests, package notices) to the schools

Revision ID: ingest_0002
Revises: ingest_0001
Create Date: 2026-01-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from central_server.core.db import UTCDateTime

revision = "ingest_0002"
down_revision = "ingest_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_control_outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("school", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("control", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("claimed_until", UTCDateTime(), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_ingest_control_outbox"),
        sa.UniqueConstraint("message_id", name="uq_ingest_control_outbox_message_id"),
    )
    op.create_index("ix_ingest_control_outbox_sent_at", "ingest_control_outbox", ["sent_at"])


def downgrade() -> None:
    op.drop_index("ix_ingest_control_outbox_sent_at", table_name="ingest_control_outbox")
    op.drop_table("ingest_control_outbox")
