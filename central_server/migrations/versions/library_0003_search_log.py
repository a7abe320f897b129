"""library: count searches (when, page or API, which fields, how many results, the searcher's school; no words)

Revision ID: library_0003_search_log
Revises: library_0002_field_search
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from central_server.core.db import UTCDateTime

revision = "library_0003_search_log"
down_revision = "library_0002_field_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "library_searches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("via", sa.String(8), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=True),
        sa.Column("fields", sa.String(120), nullable=False),
        sa.Column("results", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_library_searches")),
    )
    op.create_index(op.f("ix_library_searches_at"), "library_searches", ["at"])


def downgrade() -> None:
    op.drop_table("library_searches")
