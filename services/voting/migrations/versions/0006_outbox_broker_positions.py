"""outbox rows keep the broker partition and offset they were acknowledged at

Revision ID: 0006_outbox_broker_positions
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006_outbox_broker_positions'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('broker_partition', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('broker_offset', sa.BigInteger(), nullable=True))
        batch_op.create_index('ix_outbox_broker_position', ['topic', 'broker_partition', 'broker_offset'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_broker_position')
        batch_op.drop_column('broker_offset')
        batch_op.drop_column('broker_partition')
