"""client ratings: one row per ClientRating from chat.ratings, revisions numbered

Written out in full (no imports from store.models) so this revision keeps
creating exactly this table however the models change later.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 23:00:00
"""
from __future__ import annotations

__layer__ = "shell"

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0003'
down_revision: Union[str, Sequence[str], None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TS = sa.DateTime(timezone=True)
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('ratings',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('rating_id', sa.String(length=128), nullable=False),
    sa.Column('session_id', sa.String(length=128), nullable=False),
    sa.Column('instrument', sa.String(length=16), nullable=False),
    sa.Column('instrument_version', sa.String(length=128), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('answers', JSON_DOC, nullable=False),
    sa.Column('lang', sa.String(length=8), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('link_id', sa.String(length=128), nullable=True),
    sa.Column('submitted_at', TS, nullable=False),
    sa.Column('stored_at', TS, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ratings')),
    sa.UniqueConstraint('rating_id', name=op.f('uq_ratings_rating_id')),
    sa.UniqueConstraint('link_id', name=op.f('uq_ratings_link_id')),
    sa.UniqueConstraint('session_id', 'instrument', 'revision', name='uq_ratings_session_instrument_revision'),
    )
    with op.batch_alter_table('ratings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ratings_session_id'), ['session_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ratings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ratings_session_id'))
    op.drop_table('ratings')
