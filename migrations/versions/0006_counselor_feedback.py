"""turn-level counselor feedback: counselor_feedback (ratings, principle, pattern; quotes under retention)

Written out in full (no imports from store.models) so this revision keeps
creating exactly this table however the models change later.

Revision ID: 0006_counselor_feedback
Revises: 0005_access_events
Create Date: 2026-12-02 07:00:00
"""
from __future__ import annotations

__layer__ = "shell"

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0006_counselor_feedback'
down_revision: Union[str, Sequence[str], None] = '0005_access_events'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TS = sa.DateTime(timezone=True)
ID = sa.String(length=128)
JSON = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')


def upgrade() -> None:
    op.create_table('counselor_feedback',
    sa.Column('feedback_id', ID, nullable=False),
    sa.Column('session_id', ID, nullable=False),
    sa.Column('counselor_id', ID, nullable=False),
    sa.Column('phase', sa.String(length=8), nullable=False),
    sa.Column('turn_id', sa.Integer(), nullable=False),
    sa.Column('lang', sa.String(length=8), nullable=True),
    sa.Column('quote', sa.Text(), nullable=True),
    sa.Column('next_move', sa.Text(), nullable=True),
    sa.Column('principles', JSON, nullable=False),
    sa.Column('patterns', JSON, nullable=False),
    sa.Column('features', JSON, nullable=True),
    sa.Column('pattern', sa.String(length=32), nullable=True),
    sa.Column('pattern_source', sa.String(length=16), nullable=True),
    sa.Column('principle', sa.String(length=32), nullable=False),
    sa.Column('model_name', ID, nullable=False),
    sa.Column('model_revision', sa.String(length=128), nullable=True),
    sa.Column('validated', sa.Boolean(), nullable=False),
    sa.Column('created_at', TS, nullable=False),
    sa.Column('stored_at', TS, nullable=False),
    sa.PrimaryKeyConstraint('feedback_id', name=op.f('pk_counselor_feedback'))
    )
    with op.batch_alter_table('counselor_feedback', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_counselor_feedback_session_id'), ['session_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_counselor_feedback_counselor_id'), ['counselor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_counselor_feedback_created_at'), ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('counselor_feedback', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_counselor_feedback_created_at'))
        batch_op.drop_index(batch_op.f('ix_counselor_feedback_counselor_id'))
        batch_op.drop_index(batch_op.f('ix_counselor_feedback_session_id'))
    op.drop_table('counselor_feedback')
