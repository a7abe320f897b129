# ruff: noqa: E501
"""attendance: current marks, event history, derived sessions (buổi), school years

Revision ID: attendance_0001
Revises:
Create Date: 2025-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from central_server.core.db import UTCDateTime

revision = "attendance_0001"
down_revision = None
branch_labels = ("attendance",)
depends_on = ("0001_core", "masterdata_0001")


def upgrade() -> None:
    op.create_table('attendance_daily',
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('class_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('attended', sa.Integer(), nullable=False),
    sa.Column('excused', sa.Integer(), nullable=False),
    sa.Column('unexcused', sa.Integer(), nullable=False),
    sa.Column('unfinalised', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['school_id'], ['schools.id'], name=op.f('fk_attendance_daily_school_id_schools'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('school_id', 'class_id', 'day', name=op.f('pk_attendance_daily'))
    )
    op.create_index('ix_attendance_daily_day_school', 'attendance_daily', ['day', 'school_id'], unique=False)
    op.create_table('attendance_school_years',
    sa.Column('name', sa.String(length=9), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('term2_starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_attendance_school_years'))
    )
    op.create_table('attendance_history',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('student_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('session', sa.String(length=10), nullable=False),
    sa.Column('period', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('previous_status', sa.String(length=16), nullable=True),
    sa.Column('stage', sa.String(length=12), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('class_code', sa.String(length=64), nullable=False),
    sa.Column('observed_at', UTCDateTime(), nullable=False),
    sa.Column('received_at', UTCDateTime(), nullable=False),
    sa.Column('applied', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['student_id'], ['students.id'], name=op.f('fk_attendance_history_student_id_students'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attendance_history')),
    sa.UniqueConstraint('event_id', name=op.f('uq_attendance_history_event_id'))
    )
    op.create_index('ix_attendance_history_student_day', 'attendance_history', ['student_id', 'day'], unique=False)
    op.create_table('attendance_marks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('student_id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('class_id', sa.Integer(), nullable=True),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('session', sa.String(length=10), nullable=False),
    sa.Column('period', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('stage', sa.String(length=12), nullable=False),
    sa.Column('stage_rank', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('observed_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['class_id'], ['classes.id'], name=op.f('fk_attendance_marks_class_id_classes'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['school_id'], ['schools.id'], name=op.f('fk_attendance_marks_school_id_schools'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['student_id'], ['students.id'], name=op.f('fk_attendance_marks_student_id_students'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attendance_marks')),
    sa.UniqueConstraint('student_id', 'day', 'session', 'period', name='uq_attendance_marks_slot')
    )
    op.create_index('ix_attendance_marks_school_day', 'attendance_marks', ['school_id', 'day'], unique=False)
    op.create_table('attendance_sessions',
    sa.Column('student_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('session', sa.String(length=10), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('class_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('finalised', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['class_id'], ['classes.id'], name=op.f('fk_attendance_sessions_class_id_classes'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['school_id'], ['schools.id'], name=op.f('fk_attendance_sessions_school_id_schools'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['student_id'], ['students.id'], name=op.f('fk_attendance_sessions_student_id_students'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('student_id', 'day', 'session', name=op.f('pk_attendance_sessions'))
    )
    op.create_index('ix_attendance_sessions_class_day', 'attendance_sessions', ['class_id', 'day'], unique=False)
    op.create_index('ix_attendance_sessions_school_day', 'attendance_sessions', ['school_id', 'day'], unique=False)
    op.create_index('ix_attendance_sessions_status_day', 'attendance_sessions', ['status', 'day'], unique=False)

def downgrade() -> None:
    op.drop_index('ix_attendance_sessions_status_day', table_name='attendance_sessions')
    op.drop_index('ix_attendance_daily_day_school', table_name='attendance_daily')
    op.drop_table('attendance_daily')
    op.drop_index('ix_attendance_sessions_school_day', table_name='attendance_sessions')
    op.drop_index('ix_attendance_sessions_class_day', table_name='attendance_sessions')
    op.drop_table('attendance_sessions')
    op.drop_index('ix_attendance_marks_school_day', table_name='attendance_marks')
    op.drop_table('attendance_marks')
    op.drop_index('ix_attendance_history_student_day', table_name='attendance_history')
    op.drop_table('attendance_history')
    op.drop_table('attendance_school_years')
