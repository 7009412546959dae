"""work orders without the row digest: a re-import compares the stored columns
themselves (no md5 per row while importing, 33 bytes less per stored order)

Revision ID: 0010_no_row_digest
Revises: 0009_webhooks
Create Date: 2026-12-02 22:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0010_no_row_digest'
down_revision: str | None = '0009_webhooks'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('work_orders', schema=None) as batch_op:
        batch_op.drop_column('row_digest')


def downgrade() -> None:
    # The old digests cannot be rebuilt here: '' matches no new one, so the old
    # code's next import of an order rewrites it once with the same values.
    with op.batch_alter_table('work_orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('row_digest', sa.String(length=32), nullable=False, server_default=''))
