"""validation records: one row per model identity x label set (docs/validation.md)

Written out in full (no imports from store.models) so this revision keeps
creating exactly this table however the models change later.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 04:55:00
"""
from __future__ import annotations

__layer__ = "shell"

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0002'
down_revision: Union[str, Sequence[str], None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TS = sa.DateTime(timezone=True)
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('validation_records',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('model_name', sa.String(length=128), nullable=False),
    sa.Column('model_revision', sa.String(length=128), nullable=False),
    sa.Column('prompt_version', sa.String(length=64), nullable=False),
    sa.Column('readout', sa.String(length=16), nullable=False),
    sa.Column('created_at', TS, nullable=False),
    sa.Column('labels_n', sa.Integer(), nullable=False),
    sa.Column('labels_source', sa.String(length=500), nullable=True),
    sa.Column('goal_passed', sa.Boolean(), nullable=True),
    sa.Column('approach_passed', sa.Boolean(), nullable=True),
    sa.Column('bond_passed', sa.Boolean(), nullable=True),
    sa.Column('record', JSON_DOC, nullable=False),
    sa.Column('calibration', JSON_DOC, nullable=True),
    sa.Column('stored_at', TS, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_validation_records')),
    sa.UniqueConstraint('model_name', 'model_revision', 'prompt_version', 'readout', 'created_at',
                        name='uq_validation_records_model_created')
    )
    with op.batch_alter_table('validation_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_validation_records_created_at'), ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('validation_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_validation_records_created_at'))
    op.drop_table('validation_records')
