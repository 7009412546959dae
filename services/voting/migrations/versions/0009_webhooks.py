"""webhook subscriptions and deliveries

Revision ID: 0009_webhooks
Revises: 0008_supplementary_ratio_grades
Create Date: 2026-12-01 22:06:26.242280
"""

from collections.abc import Sequence

from shared.ops import migration_steps


revision: str = '0009_webhooks'
down_revision: str | None = '0008_supplementary_ratio_grades'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    migration_steps.create_webhook_tables()


def downgrade() -> None:
    migration_steps.drop_webhook_tables()
