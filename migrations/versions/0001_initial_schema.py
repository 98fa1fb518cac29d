"""initial schema: sessions, predictions (+ items), alerts, acks, turns, events

Written out in full (no imports from store.models) so this revision keeps
creating exactly this schema however the models change later.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 04:17:32.319841
"""
from __future__ import annotations

__layer__ = "shell"

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

#: UTC instants; store.models.UtcDateTime reads them back timezone-aware.
TS = sa.DateTime(timezone=True)
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')
#: big integer ids that are still SQLite rowid aliases (autoincrement).
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('alert_acks',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('alert_id', sa.String(length=128), nullable=False),
    sa.Column('session_id', sa.String(length=128), nullable=False),
    sa.Column('acked_by', sa.String(length=128), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=True),
    sa.Column('note', sa.String(length=280), nullable=True),
    sa.Column('acked_at', TS, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_acks')),
    sa.UniqueConstraint('alert_id', 'acked_by', name='uq_alert_acks_alert_by')
    )
    with op.batch_alter_table('alert_acks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_acks_alert_id'), ['alert_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_acks_session_id'), ['session_id'], unique=False)

    op.create_table('alerts',
    sa.Column('alert_id', sa.String(length=128), nullable=False),
    sa.Column('session_id', sa.String(length=128), nullable=False),
    sa.Column('counselor_id', sa.String(length=128), nullable=False),
    sa.Column('dimension', sa.String(length=16), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('previous', sa.Float(), nullable=True),
    sa.Column('current', sa.Float(), nullable=True),
    sa.Column('phase', sa.String(length=8), nullable=False),
    sa.Column('evidence', JSON_DOC, nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('model', sa.String(length=128), nullable=True),
    sa.Column('validated', sa.Boolean(), nullable=False),
    sa.Column('created_at', TS, nullable=False),
    sa.Column('stored_at', TS, nullable=False),
    sa.PrimaryKeyConstraint('alert_id', name=op.f('pk_alerts'))
    )
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alerts_counselor_id'), ['counselor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_alerts_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_alerts_session_id'), ['session_id'], unique=False)

    op.create_table('events',
    sa.Column('seq', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('ref', sa.String(length=512), nullable=False),
    sa.Column('session_id', sa.String(length=128), nullable=False),
    sa.Column('stream', sa.String(length=300), nullable=True),
    sa.Column('record_offset', sa.BigInteger(), nullable=True),
    sa.Column('at', TS, nullable=False),
    sa.Column('data', JSON_DOC, nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_events')),
    sa.UniqueConstraint('kind', 'ref', name='uq_events_kind_ref')
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_events_session_id'), ['session_id'], unique=False)
        batch_op.create_index('ix_events_stream_offset', ['stream', 'record_offset'], unique=False)

    op.create_table('sink_streams',
    sa.Column('stream', sa.String(length=300), nullable=False),
    sa.Column('first_offset', sa.BigInteger(), nullable=False),
    sa.Column('high_offset', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('stream', name=op.f('pk_sink_streams'))
    )

    op.create_table('predictions',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('request_id', sa.String(length=128), nullable=False),
    sa.Column('session_id', sa.String(length=128), nullable=False),
    sa.Column('counselor_id', sa.String(length=128), nullable=True),
    sa.Column('phase', sa.String(length=8), nullable=False),
    sa.Column('upto_turn_id', sa.Integer(), nullable=False),
    sa.Column('model_name', sa.String(length=128), nullable=False),
    sa.Column('model_revision', sa.String(length=128), nullable=False),
    sa.Column('prompt_version', sa.String(length=64), nullable=False),
    sa.Column('readout', sa.String(length=16), nullable=False),
    sa.Column('goal', sa.Float(), nullable=True),
    sa.Column('approach', sa.Float(), nullable=True),
    sa.Column('bond', sa.Float(), nullable=True),
    sa.Column('goal_spread', sa.Float(), nullable=True),
    sa.Column('approach_spread', sa.Float(), nullable=True),
    sa.Column('bond_spread', sa.Float(), nullable=True),
    sa.Column('prompt_tokens', sa.Integer(), nullable=False),
    sa.Column('cached_tokens', sa.Integer(), nullable=False),
    sa.Column('latency_ms', sa.Float(), nullable=False),
    sa.Column('transcript_chars', sa.Integer(), nullable=True),
    sa.Column('client_turns', sa.Integer(), nullable=True),
    sa.Column('consistency', JSON_DOC, nullable=True),
    sa.Column('scored_at', TS, nullable=False),
    sa.Column('stored_at', TS, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_predictions')),
    sa.UniqueConstraint('request_id', 'model_name', 'model_revision', 'prompt_version', 'readout', name='uq_predictions_request_model')
    )
    with op.batch_alter_table('predictions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_predictions_counselor_id'), ['counselor_id'], unique=False)
        batch_op.create_index('ix_predictions_session_phase', ['session_id', 'phase'], unique=False)

    op.create_table('sessions',
    sa.Column('session_id', sa.String(length=128), nullable=False),
    sa.Column('counselor_id', sa.String(length=128), nullable=True),
    sa.Column('group_id', sa.String(length=128), nullable=True),
    sa.Column('lang', sa.String(length=8), nullable=True),
    sa.Column('planned_minutes', sa.Float(), nullable=True),
    sa.Column('started_at', TS, nullable=True),
    sa.Column('ended_at', TS, nullable=True),
    sa.Column('updated_at', TS, nullable=False),
    sa.PrimaryKeyConstraint('session_id', name=op.f('pk_sessions'))
    )
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sessions_counselor_id'), ['counselor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sessions_group_id'), ['group_id'], unique=False)

    op.create_table('turns',
    sa.Column('session_id', sa.String(length=128), nullable=False),
    sa.Column('turn_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('speaker', sa.String(length=16), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('sent_at', TS, nullable=False),
    sa.Column('counselor_id', sa.String(length=128), nullable=True),
    sa.Column('lang', sa.String(length=8), nullable=True),
    sa.PrimaryKeyConstraint('session_id', 'turn_id', name=op.f('pk_turns'))
    )
    with op.batch_alter_table('turns', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_turns_sent_at'), ['sent_at'], unique=False)

    op.create_table('prediction_items',
    sa.Column('prediction_id', BIG_ID, nullable=False),
    sa.Column('item_id', sa.String(length=4), nullable=False),
    sa.Column('item_no', sa.Integer(), nullable=False),
    sa.Column('dimension', sa.String(length=16), nullable=False),
    sa.Column('expected', sa.Float(), nullable=False),
    sa.Column('p1', sa.Float(), nullable=False),
    sa.Column('p2', sa.Float(), nullable=False),
    sa.Column('p3', sa.Float(), nullable=False),
    sa.Column('p4', sa.Float(), nullable=False),
    sa.Column('p5', sa.Float(), nullable=False),
    sa.Column('rationale', sa.Text(), nullable=True),
    sa.Column('quotes', JSON_DOC, nullable=True),
    sa.Column('samples', JSON_DOC, nullable=True),
    sa.ForeignKeyConstraint(['prediction_id'], ['predictions.id'], name=op.f('fk_prediction_items_prediction_id_predictions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('prediction_id', 'item_id', name=op.f('pk_prediction_items'))
    )


def downgrade() -> None:
    op.drop_table('prediction_items')
    with op.batch_alter_table('turns', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_turns_sent_at'))

    op.drop_table('turns')
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sessions_group_id'))
        batch_op.drop_index(batch_op.f('ix_sessions_counselor_id'))

    op.drop_table('sessions')
    with op.batch_alter_table('predictions', schema=None) as batch_op:
        batch_op.drop_index('ix_predictions_session_phase')
        batch_op.drop_index(batch_op.f('ix_predictions_counselor_id'))

    op.drop_table('predictions')
    op.drop_table('sink_streams')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_stream_offset')
        batch_op.drop_index(batch_op.f('ix_events_session_id'))

    op.drop_table('events')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alerts_session_id'))
        batch_op.drop_index(batch_op.f('ix_alerts_created_at'))
        batch_op.drop_index(batch_op.f('ix_alerts_counselor_id'))

    op.drop_table('alerts')
    with op.batch_alter_table('alert_acks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_acks_session_id'))
        batch_op.drop_index(batch_op.f('ix_alert_acks_alert_id'))

    op.drop_table('alert_acks')
