"""api keys idempotency keys and audit log

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 07:46:35.759836
"""

from collections.abc import Sequence

from shared.ops import migration_steps


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    migration_steps.create_security_tables()


def downgrade() -> None:
    migration_steps.drop_security_tables()
