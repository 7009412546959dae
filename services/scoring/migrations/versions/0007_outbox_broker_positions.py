"""outbox rows keep the broker partition and offset they were acknowledged at

Revision ID: 0007_outbox_broker_positions
Revises: 0006
"""

from collections.abc import Sequence

from shared.ops import migration_steps


revision: str = '0007_outbox_broker_positions'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    migration_steps.add_outbox_broker_positions()


def downgrade() -> None:
    migration_steps.drop_outbox_broker_positions()
