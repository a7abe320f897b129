# ruff: noqa: E501
"""admissions: plans, applications, evidence, scores, allocation runs and results, results lookup

Revision ID: admissions_0001
Revises:
Create Date: 2025-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from central_server.core.db import UTCDateTime

revision = "admissions_0001"
down_revision = None
branch_labels = ("admissions",)
depends_on = "0001_core"


def upgrade() -> None:
    op.create_table('adm_applications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('personal_id', sa.String(length=12), nullable=False),
    sa.Column('candidate_no', sa.String(length=16), nullable=True),
    sa.Column('full_name', sa.String(length=120), nullable=False),
    sa.Column('dob', sa.Date(), nullable=False),
    sa.Column('gender', sa.String(length=8), nullable=False),
    sa.Column('ethnicity', sa.String(length=40), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('lower_secondary', sa.String(length=200), nullable=False),
    sa.Column('commune', sa.String(length=10), nullable=False),
    sa.Column('residence_months', sa.Integer(), nullable=False),
    sa.Column('priority', sa.JSON(), nullable=False),
    sa.Column('prizes', sa.JSON(), nullable=False),
    sa.Column('direct_group', sa.String(length=40), nullable=False),
    sa.Column('dtnt_request', sa.Boolean(), nullable=False),
    sa.Column('aspirations', sa.JSON(), nullable=False),
    sa.Column('specialised', sa.JSON(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('edit_secret_hash', sa.String(length=64), nullable=False),
    sa.Column('receipt_code', sa.String(length=32), nullable=False),
    sa.Column('review', sa.JSON(), nullable=False),
    sa.Column('specialised_declined', sa.Boolean(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.Column('edits', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_adm_applications')),
    sa.UniqueConstraint('receipt_code', name=op.f('uq_adm_applications_receipt_code')),
    sa.UniqueConstraint('year', 'candidate_no', name='uq_adm_applications_year_cno'),
    sa.UniqueConstraint('year', 'personal_id', name='uq_adm_applications_year_pid')
    )
    op.create_index(op.f('ix_adm_applications_year'), 'adm_applications', ['year'], unique=False)
    op.create_table('adm_lookup',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('candidate_no', sa.String(length=16), nullable=False),
    sa.Column('pid_hash', sa.String(length=64), nullable=False),
    sa.Column('dob', sa.Date(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('published_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_adm_lookup')),
    sa.UniqueConstraint('year', 'candidate_no', name='uq_adm_lookup_year_cno')
    )
    op.create_table('adm_plans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('document', sa.JSON(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_adm_plans')),
    sa.UniqueConstraint('year', 'version', name='uq_adm_plans_year_version')
    )
    op.create_index(op.f('ix_adm_plans_year'), 'adm_plans', ['year'], unique=False)
    op.create_table('adm_evidence',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('uploaded_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['adm_applications.id'], name=op.f('fk_adm_evidence_application_id_adm_applications'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_adm_evidence'))
    )
    op.create_index(op.f('ix_adm_evidence_application_id'), 'adm_evidence', ['application_id'], unique=False)
    op.create_table('adm_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('mode', sa.String(length=24), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('base_run_id', sa.Integer(), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('published_at', UTCDateTime(), nullable=True),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.Column('cutoffs', sa.JSON(), nullable=False),
    sa.Column('ties', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['adm_plans.id'], name=op.f('fk_adm_runs_plan_id_adm_plans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_adm_runs'))
    )
    op.create_index(op.f('ix_adm_runs_year'), 'adm_runs', ['year'], unique=False)
    op.create_table('adm_scores',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('scores', sa.JSON(), nullable=False),
    sa.Column('cancelled', sa.Boolean(), nullable=False),
    sa.Column('remarked', sa.Boolean(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['adm_applications.id'], name=op.f('fk_adm_scores_application_id_adm_applications'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_adm_scores')),
    sa.UniqueConstraint('application_id', name=op.f('uq_adm_scores_application_id'))
    )
    op.create_table('adm_results',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('unit', sa.String(length=40), nullable=False),
    sa.Column('school', sa.String(length=40), nullable=False),
    sa.Column('stage', sa.String(length=16), nullable=False),
    sa.Column('aspiration', sa.Integer(), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('excluded', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['adm_applications.id'], name=op.f('fk_adm_results_application_id_adm_applications'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['run_id'], ['adm_runs.id'], name=op.f('fk_adm_results_run_id_adm_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_adm_results'))
    )
    op.create_index(op.f('ix_adm_results_run_id'), 'adm_results', ['run_id'], unique=False)
    op.create_index('ix_adm_results_run_unit', 'adm_results', ['run_id', 'unit'], unique=False)


def downgrade() -> None:
    op.drop_table('adm_results')
    op.drop_table('adm_scores')
    op.drop_table('adm_runs')
    op.drop_table('adm_evidence')
    op.drop_table('adm_plans')
    op.drop_table('adm_lookup')
    op.drop_table('adm_applications')
