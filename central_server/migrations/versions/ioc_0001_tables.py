# ruff: noqa: E501
"""ioc: aggregates, tiles, alert rules and alerts, webhook deliveries, city IOC API consumers

Revision ID: ioc_0001
Revises:
Create Date: 2026-12-04 05:41:06.595869
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from central_server.core.db import UTCDateTime

revision = 'ioc_0001'
down_revision = None
branch_labels = ('ioc',)
depends_on = ("0001_core", "masterdata_0001")


def upgrade() -> None:
    op.create_table('ioc_alert_rules',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('threshold', sa.Float(), nullable=False),
    sa.Column('unit', sa.String(length=16), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_ioc_alert_rules'))
    )
    op.create_table('ioc_alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rule_code', sa.String(length=32), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=True),
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('dedup_key', sa.String(length=128), nullable=False),
    sa.Column('open_key', sa.String(length=128), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('message', sa.String(length=500), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('opened_at', UTCDateTime(), nullable=False),
    sa.Column('last_seen_at', UTCDateTime(), nullable=False),
    sa.Column('ack_by', sa.String(length=200), nullable=False),
    sa.Column('ack_note', sa.Text(), nullable=False),
    sa.Column('ack_at', UTCDateTime(), nullable=True),
    sa.Column('resolved_at', UTCDateTime(), nullable=True),
    sa.Column('resolved_by', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ioc_alerts')),
    sa.UniqueConstraint('open_key', name=op.f('uq_ioc_alerts_open_key'))
    )
    with op.batch_alter_table('ioc_alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ioc_alerts_dedup_key'), ['dedup_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_ioc_alerts_rule_code'), ['rule_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_ioc_alerts_school_id'), ['school_id'], unique=False)

    op.create_table('ioc_api_consumers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=True),
    sa.Column('rate_per_minute', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('last_used_at', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ioc_api_consumers')),
    sa.UniqueConstraint('name', name=op.f('uq_ioc_api_consumers_name')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_ioc_api_consumers_token_hash'))
    )
    op.create_table('ioc_tile_weekly',
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('key', sa.String(length=48), nullable=False),
    sa.Column('week', sa.Date(), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('scope', 'key', 'week', name=op.f('pk_ioc_tile_weekly'))
    )
    op.create_table('ioc_tiles',
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('key', sa.String(length=48), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.Column('changed_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('scope', 'key', name=op.f('pk_ioc_tiles'))
    )
    op.create_table('ioc_watermarks',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('last_id', sa.BigInteger(), nullable=False),
    sa.Column('gaps', sa.JSON(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_ioc_watermarks'))
    )
    op.create_table('ioc_webhook_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('alert_id', sa.Integer(), nullable=False),
    sa.Column('event', sa.String(length=16), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', UTCDateTime(), nullable=False),
    sa.Column('delivered_at', UTCDateTime(), nullable=True),
    sa.Column('failed_at', UTCDateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['alert_id'], ['ioc_alerts.id'], name=op.f('fk_ioc_webhook_deliveries_alert_id_ioc_alerts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ioc_webhook_deliveries'))
    )
    with op.batch_alter_table('ioc_webhook_deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ioc_webhook_deliveries_alert_id'), ['alert_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ioc_webhook_deliveries_next_attempt_at'), ['next_attempt_at'], unique=False)

    op.create_table('ioc_school_daily',
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('attended', sa.Integer(), nullable=False),
    sa.Column('excused', sa.Integer(), nullable=False),
    sa.Column('unexcused', sa.Integer(), nullable=False),
    sa.Column('unfinalised', sa.Integer(), nullable=False),
    sa.Column('proposals', sa.Integer(), nullable=False),
    sa.Column('corrections', sa.Integer(), nullable=False),
    sa.Column('finalised', sa.Integer(), nullable=False),
    sa.Column('finalised_on_time', sa.Integer(), nullable=False),
    sa.Column('quarantined', sa.Integer(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['school_id'], ['schools.id'], name=op.f('fk_ioc_school_daily_school_id_schools'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('school_id', 'day', name=op.f('pk_ioc_school_daily'))
    )
    with op.batch_alter_table('ioc_school_daily', schema=None) as batch_op:
        batch_op.create_index('ix_ioc_school_daily_day', ['day'], unique=False)

    op.create_table('ioc_student_state',
    sa.Column('student_id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('class_id', sa.Integer(), nullable=True),
    sa.Column('school_year', sa.String(length=9), nullable=False),
    sa.Column('excused', sa.Integer(), nullable=False),
    sa.Column('unexcused', sa.Integer(), nullable=False),
    sa.Column('absent', sa.Integer(), nullable=False),
    sa.Column('streak_days', sa.Integer(), nullable=False),
    sa.Column('recent_absent', sa.Integer(), nullable=False),
    sa.Column('prior_absent', sa.Integer(), nullable=False),
    sa.Column('last_day', sa.Date(), nullable=True),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['school_id'], ['schools.id'], name=op.f('fk_ioc_student_state_school_id_schools'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['student_id'], ['students.id'], name=op.f('fk_ioc_student_state_student_id_students'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('student_id', name=op.f('pk_ioc_student_state'))
    )
    with op.batch_alter_table('ioc_student_state', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ioc_student_state_absent'), ['absent'], unique=False)
        batch_op.create_index(batch_op.f('ix_ioc_student_state_school_id'), ['school_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('ioc_student_state', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ioc_student_state_school_id'))
        batch_op.drop_index(batch_op.f('ix_ioc_student_state_absent'))

    op.drop_table('ioc_student_state')
    with op.batch_alter_table('ioc_school_daily', schema=None) as batch_op:
        batch_op.drop_index('ix_ioc_school_daily_day')

    op.drop_table('ioc_school_daily')
    with op.batch_alter_table('ioc_webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ioc_webhook_deliveries_next_attempt_at'))
        batch_op.drop_index(batch_op.f('ix_ioc_webhook_deliveries_alert_id'))

    op.drop_table('ioc_webhook_deliveries')
    op.drop_table('ioc_watermarks')
    op.drop_table('ioc_tiles')
    op.drop_table('ioc_tile_weekly')
    op.drop_table('ioc_api_consumers')
    with op.batch_alter_table('ioc_alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ioc_alerts_school_id'))
        batch_op.drop_index(batch_op.f('ix_ioc_alerts_rule_code'))
        batch_op.drop_index(batch_op.f('ix_ioc_alerts_dedup_key'))

    op.drop_table('ioc_alerts')
    op.drop_table('ioc_alert_rules')
