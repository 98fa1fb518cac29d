"""rupture episodes: the newest version of each episode from alliance.ruptures

Written out in full (no imports from store.models) so this revision keeps
creating exactly this table however the models change later.

Revision ID: 0004_rupture_episodes
Revises: 0003
Create Date: 2026-12-01 23:00:00
"""
from __future__ import annotations

__layer__ = "shell"

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0004_rupture_episodes'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TS = sa.DateTime(timezone=True)
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')


def upgrade() -> None:
    op.create_table('rupture_episodes',
    sa.Column('episode_id', sa.String(length=128), nullable=False),
    sa.Column('session_id', sa.String(length=128), nullable=False),
    sa.Column('counselor_id', sa.String(length=128), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('closed', sa.Boolean(), nullable=False),
    sa.Column('sources', JSON_DOC, nullable=False),
    sa.Column('phase', sa.String(length=8), nullable=False),
    sa.Column('lang', sa.String(length=8), nullable=True),
    sa.Column('opened_at', TS, nullable=False),
    sa.Column('opened_turn_id', sa.Integer(), nullable=False),
    sa.Column('closed_at', TS, nullable=True),
    sa.Column('markers', JSON_DOC, nullable=True),
    sa.Column('repair_moves', JSON_DOC, nullable=True),
    sa.Column('reengaged_turn_id', sa.Integer(), nullable=True),
    sa.Column('model_drop', JSON_DOC, nullable=True),
    sa.Column('validated', sa.Boolean(), nullable=False),
    sa.Column('updated_at', TS, nullable=False),
    sa.Column('stored_at', TS, nullable=False),
    sa.PrimaryKeyConstraint('episode_id', name=op.f('pk_rupture_episodes'))
    )
    with op.batch_alter_table('rupture_episodes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rupture_episodes_session_id'), ['session_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rupture_episodes_counselor_id'), ['counselor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rupture_episodes_opened_at'), ['opened_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('rupture_episodes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rupture_episodes_opened_at'))
        batch_op.drop_index(batch_op.f('ix_rupture_episodes_counselor_id'))
        batch_op.drop_index(batch_op.f('ix_rupture_episodes_session_id'))
    op.drop_table('rupture_episodes')
