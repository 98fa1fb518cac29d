"""audit trail: access_events (who viewed, how, when) and access_event_sessions (which sessions)

Written out in full (no imports from store.models) so this revision keeps
creating exactly these tables however the models change later.

Revision ID: 0005_access_events
Revises: 0004_rupture_episodes
Create Date: 2026-12-02 03:00:00
"""
from __future__ import annotations

__layer__ = "shell"

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0005_access_events'
down_revision: Union[str, Sequence[str], None] = '0004_rupture_episodes'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TS = sa.DateTime(timezone=True)
ID = sa.String(length=128)


def upgrade() -> None:
    op.create_table('access_events',
    sa.Column('event_id', ID, nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('viewer', ID, nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('counselor_id', ID, nullable=True),
    sa.Column('scope', sa.String(length=512), nullable=False),
    sa.Column('key_id', ID, nullable=True),
    sa.Column('token_id', ID, nullable=True),
    sa.Column('sessions_shown', sa.Integer(), nullable=False),
    sa.Column('part', sa.String(length=16), nullable=False),
    sa.Column('replica', ID, nullable=True),
    sa.Column('viewed_at', TS, nullable=False),
    sa.Column('stored_at', TS, nullable=False),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_access_events'))
    )
    with op.batch_alter_table('access_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_access_events_viewer'), ['viewer'], unique=False)
        batch_op.create_index(batch_op.f('ix_access_events_viewed_at'), ['viewed_at'], unique=False)
    op.create_table('access_event_sessions',
    sa.Column('event_id', ID, nullable=False),
    sa.Column('session_id', ID, nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['access_events.event_id'],
                            name=op.f('fk_access_event_sessions_event_id_access_events')),
    sa.PrimaryKeyConstraint('event_id', 'session_id', name=op.f('pk_access_event_sessions'))
    )
    with op.batch_alter_table('access_event_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_access_event_sessions_session_id'), ['session_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('access_event_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_access_event_sessions_session_id'))
    op.drop_table('access_event_sessions')
    with op.batch_alter_table('access_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_access_events_viewed_at'))
        batch_op.drop_index(batch_op.f('ix_access_events_viewer'))
    op.drop_table('access_events')
