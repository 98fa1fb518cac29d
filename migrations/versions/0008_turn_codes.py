"""human turn codes: turn_codes (one coder's code set of one turn, from the /code page)

Written out in full (no imports from store.models) so this revision keeps
creating exactly this table however the models change later.

Revision ID: 0008_turn_codes
Revises: 0007_session_owner
Create Date: 2026-12-07 21:00:00
"""
from __future__ import annotations

__layer__ = "shell"

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0008_turn_codes'
down_revision: Union[str, Sequence[str], None] = '0007_session_owner'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TS = sa.DateTime(timezone=True)
ID = sa.String(length=128)
JSON = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')


def upgrade() -> None:
    op.create_table('turn_codes',
    sa.Column('session_id', ID, nullable=False),
    sa.Column('turn_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('coder_id', ID, nullable=False),
    sa.Column('speaker', sa.String(length=16), nullable=False),
    sa.Column('codes', JSON, nullable=False),
    sa.Column('coded_at', TS, nullable=False),
    sa.PrimaryKeyConstraint('session_id', 'turn_id', 'coder_id', name=op.f('pk_turn_codes'))
    )
    with op.batch_alter_table('turn_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_turn_codes_coder_id'), ['coder_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('turn_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_turn_codes_coder_id'))
    op.drop_table('turn_codes')
