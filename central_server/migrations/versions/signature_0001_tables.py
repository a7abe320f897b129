# ruff: noqa: E501
"""signature: signable documents, versions (signed PDFs), applied signatures, change log

Revision ID: signature_0001
Revises:
Create Date: 2025-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from central_server.core.db import UTCDateTime

revision = "signature_0001"
down_revision = None
branch_labels = ("signature",)
depends_on = "0001_core"


def upgrade() -> None:
    op.create_table('signature_documents',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=True),
    sa.Column('school_name', sa.String(length=200), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('current_version', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_signature_documents_created_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signature_documents'))
    )
    op.create_index(op.f('ix_signature_documents_school_id'), 'signature_documents', ['school_id'], unique=False)
    op.create_table('signature_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.String(length=36), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('location', sa.String(length=64), nullable=False),
    sa.Column('old_value', sa.Text(), nullable=True),
    sa.Column('new_value', sa.Text(), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('changed_by', sa.Integer(), nullable=False),
    sa.Column('changed_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['changed_by'], ['users.id'], name=op.f('fk_signature_changes_changed_by_users')),
    sa.ForeignKeyConstraint(['document_id'], ['signature_documents.id'], name=op.f('fk_signature_changes_document_id_signature_documents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signature_changes'))
    )
    op.create_index(op.f('ix_signature_changes_document_id'), 'signature_changes', ['document_id'], unique=False)
    op.create_table('signature_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.String(length=36), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('content', sa.JSON(), nullable=False),
    sa.Column('pdf', sa.LargeBinary(), nullable=True),
    sa.Column('pdf_sha256', sa.String(length=64), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('locked_at', UTCDateTime(), nullable=True),
    sa.Column('verified_by', sa.Integer(), nullable=True),
    sa.Column('verified_at', UTCDateTime(), nullable=True),
    sa.Column('superseded_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_signature_versions_created_by_users')),
    sa.ForeignKeyConstraint(['document_id'], ['signature_documents.id'], name=op.f('fk_signature_versions_document_id_signature_documents')),
    sa.ForeignKeyConstraint(['verified_by'], ['users.id'], name=op.f('fk_signature_versions_verified_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signature_versions')),
    sa.UniqueConstraint('document_id', 'version', name='uq_signature_versions_document_version')
    )
    op.create_index(op.f('ix_signature_versions_document_id'), 'signature_versions', ['document_id'], unique=False)
    op.create_index(op.f('ix_signature_versions_pdf_sha256'), 'signature_versions', ['pdf_sha256'], unique=False)
    op.create_table('signature_applied',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('field_name', sa.String(length=64), nullable=False),
    sa.Column('signer_cn', sa.String(length=200), nullable=False),
    sa.Column('cert_serial', sa.String(length=80), nullable=False),
    sa.Column('cert_issuer', sa.String(length=400), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('level', sa.String(length=8), nullable=False),
    sa.Column('timestamp', UTCDateTime(), nullable=True),
    sa.Column('pdf_sha256', sa.String(length=64), nullable=False),
    sa.Column('signed_by', sa.Integer(), nullable=False),
    sa.Column('signed_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['signed_by'], ['users.id'], name=op.f('fk_signature_applied_signed_by_users')),
    sa.ForeignKeyConstraint(['version_id'], ['signature_versions.id'], name=op.f('fk_signature_applied_version_id_signature_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signature_applied'))
    )
    op.create_index(op.f('ix_signature_applied_version_id'), 'signature_applied', ['version_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_signature_applied_version_id'), table_name='signature_applied')
    op.drop_table('signature_applied')
    op.drop_index(op.f('ix_signature_versions_pdf_sha256'), table_name='signature_versions')
    op.drop_index(op.f('ix_signature_versions_document_id'), table_name='signature_versions')
    op.drop_table('signature_versions')
    op.drop_index(op.f('ix_signature_changes_document_id'), table_name='signature_changes')
    op.drop_table('signature_changes')
    op.drop_index(op.f('ix_signature_documents_school_id'), table_name='signature_documents')
    op.drop_table('signature_documents')
