"""audit entries linked into the chain after commit

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 09:06:26.484227
"""

from collections.abc import Sequence

from shared.ops import migration_steps


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    migration_steps.link_audit_entries()


def downgrade() -> None:
    migration_steps.unlink_audit_entries()
