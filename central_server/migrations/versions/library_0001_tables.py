# ruff: noqa: E501
"""library: items (Dublin Core + education fields), files, appraisal history, usage, full-text search index

Revision ID: library_0001
Revises:
Create Date: 2025-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from central_server.core.db import UTCDateTime
from central_server.library import search_ddl

revision = "library_0001"
down_revision = None
branch_labels = ("library",)
depends_on = "0001_core"


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for sql in search_ddl.statements(dialect, "before"):  # PostgreSQL: CREATE EXTENSION unaccent, vn_unaccent
        op.execute(sql)
    op.create_table('library_files',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('mime', sa.String(length=120), nullable=False),
    sa.Column('ext', sa.String(length=16), nullable=False),
    sa.Column('original_name', sa.String(length=255), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('ingest_state', sa.String(length=16), nullable=False),
    sa.Column('ingest_attempts', sa.Integer(), nullable=False),
    sa.Column('ingest_error', sa.Text(), nullable=False),
    sa.Column('ingested_at', UTCDateTime(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('pages', sa.Integer(), nullable=True),
    sa.Column('thumb_sha256', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('sha256', name=op.f('pk_library_files'))
    )
    op.create_index('ix_library_files_queue', 'library_files', ['ingest_state', 'created_at'], unique=False)
    op.create_table('library_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('creators', sa.JSON(), nullable=False),
    sa.Column('keywords', sa.JSON(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('publisher', sa.String(length=300), nullable=False),
    sa.Column('contributors', sa.JSON(), nullable=False),
    sa.Column('date_issued', sa.String(length=32), nullable=False),
    sa.Column('source', sa.String(length=500), nullable=False),
    sa.Column('relation', sa.String(length=500), nullable=False),
    sa.Column('coverage', sa.String(length=300), nullable=False),
    sa.Column('rights', sa.Text(), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('subject_code', sa.String(length=32), nullable=False),
    sa.Column('grade', sa.Integer(), nullable=True),
    sa.Column('topic', sa.String(length=300), nullable=False),
    sa.Column('material_type', sa.String(length=32), nullable=False),
    sa.Column('licence', sa.String(length=32), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=True),
    sa.Column('school_name', sa.String(length=200), nullable=False),
    sa.Column('national_id', sa.String(length=100), nullable=False),
    sa.Column('national_url', sa.String(length=500), nullable=False),
    sa.Column('isbn', sa.String(length=32), nullable=False),
    sa.Column('ddc', sa.String(length=32), nullable=False),
    sa.Column('edition', sa.String(length=100), nullable=False),
    sa.Column('extent', sa.String(length=200), nullable=False),
    sa.Column('call_number', sa.String(length=64), nullable=False),
    sa.Column('copies', sa.Integer(), nullable=True),
    sa.Column('marc_xml', sa.Text(), nullable=True),
    sa.Column('file_sha256', sa.String(length=64), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.Column('submitted_by', sa.Integer(), nullable=True),
    sa.Column('reviewer_id', sa.Integer(), nullable=True),
    sa.Column('reviewer_name', sa.String(length=200), nullable=False),
    sa.Column('review_comment', sa.Text(), nullable=False),
    sa.Column('reviewed_at', UTCDateTime(), nullable=True),
    sa.Column('published_at', UTCDateTime(), nullable=True),
    sa.Column('withdrawn_at', UTCDateTime(), nullable=True),
    sa.Column('withdrawal_reason', sa.Text(), nullable=False),
    sa.CheckConstraint("kind IN ('material', 'title')", name=op.f('ck_library_items_kind')),
    sa.CheckConstraint("status IN ('draft', 'submitted', 'appraised', 'published', 'withdrawn')", name=op.f('ck_library_items_status')),
    sa.CheckConstraint('grade IS NULL OR grade BETWEEN 10 AND 12', name=op.f('ck_library_items_grade')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_library_items_created_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['file_sha256'], ['library_files.sha256'], name=op.f('fk_library_items_file_sha256_library_files')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_library_items'))
    )
    op.create_index(op.f('ix_library_items_file_sha256'), 'library_items', ['file_sha256'], unique=False)
    op.create_index('ix_library_items_harvest', 'library_items', ['updated_at', 'id'], unique=False)
    op.create_index('ix_library_items_school_harvest', 'library_items', ['school_id', 'updated_at', 'id'], unique=False)
    op.create_index('ix_library_items_status_updated', 'library_items', ['status', 'updated_at'], unique=False)
    op.create_index('ix_library_items_subject_harvest', 'library_items', ['subject_code', 'updated_at', 'id'], unique=False)
    op.create_table('library_reviews',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=False),
    sa.Column('to_status', sa.String(length=16), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_name', sa.String(length=200), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_library_reviews_actor_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['item_id'], ['library_items.id'], name=op.f('fk_library_reviews_item_id_library_items'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_library_reviews'))
    )
    op.create_index(op.f('ix_library_reviews_item_id'), 'library_reviews', ['item_id'], unique=False)
    op.create_table('library_search_docs',
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('facets', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['library_items.id'], name=op.f('fk_library_search_docs_item_id_library_items'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('item_id', name=op.f('pk_library_search_docs'))
    )
    op.create_table('library_usage',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=True),
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['item_id'], ['library_items.id'], name=op.f('fk_library_usage_item_id_library_items'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_library_usage'))
    )
    op.create_index('ix_library_usage_item_kind', 'library_usage', ['item_id', 'kind'], unique=False)
    for sql in search_ddl.statements(dialect, "create"):  # FTS5 table + triggers / tsvector column + GIN
        op.execute(sql)


def downgrade() -> None:
    for sql in search_ddl.statements(op.get_bind().dialect.name, "drop"):
        op.execute(sql)
    op.drop_table("library_usage")
    op.drop_table("library_search_docs")
    op.drop_table("library_reviews")
    op.drop_table("library_items")
    op.drop_table("library_files")
