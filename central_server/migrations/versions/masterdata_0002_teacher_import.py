"""masterdata: teachers from the MOET staff export (personal id, birth date, gender, subject, email, phone);
the kind of an import batch (students | teachers)

Revision ID: masterdata_0002
Revises: masterdata_0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "masterdata_0002"
down_revision = "masterdata_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("teachers") as batch:
        batch.add_column(sa.Column("personal_id", sa.String(length=12), nullable=True))
        batch.add_column(sa.Column("birth_date", sa.Date(), nullable=True))
        batch.add_column(sa.Column("gender", sa.String(length=8), nullable=False, server_default=""))
        batch.add_column(sa.Column("subject", sa.String(length=100), nullable=False, server_default=""))
        batch.add_column(sa.Column("email", sa.String(length=254), nullable=False, server_default=""))
        batch.add_column(sa.Column("phone", sa.String(length=20), nullable=False, server_default=""))
    op.create_index(op.f("ix_teachers_personal_id"), "teachers", ["personal_id"], unique=True)
    with op.batch_alter_table("masterdata_import_batches") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=16), nullable=False, server_default="students"))


def downgrade() -> None:
    with op.batch_alter_table("masterdata_import_batches") as batch:
        batch.drop_column("kind")
    op.drop_index(op.f("ix_teachers_personal_id"), table_name="teachers")
    with op.batch_alter_table("teachers") as batch:
        for name in ("phone", "email", "subject", "gender", "birth_date", "personal_id"):
            batch.drop_column(name)
