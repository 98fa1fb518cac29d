"""session ownership: sessions.owner_source (the source whose records may change the session)

Existing rows keep NULL: no owner known, so the next record of such a session
claims it (streams/ownership.py); a row written from now on has its owner's source
("" for a record without a source header).

Revision ID: 0007_session_owner
Revises: 0006_counselor_feedback
Create Date: 2026-12-07 20:30:00
"""
from __future__ import annotations

__layer__ = "shell"

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0007_session_owner'
down_revision: Union[str, Sequence[str], None] = '0006_counselor_feedback'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('sessions') as batch:
        batch.add_column(sa.Column('owner_source', sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sessions') as batch:
        batch.drop_column('owner_source')
