"""work orders: the received_at BRIN index without autosummarize (Postgres only)

Every Postgres import summarises the ranges it filled itself, in its own
transaction. With autosummarize on, an import of a million orders also asked
autovacuum for about 560 range summaries; its queue holds 256, so the rest
were logged one line each ("request for BRIN range summarization ... was not
recorded") for work that was done anyway.

Revision ID: 0012_brin_autosummarize_off
Revises: 0011_work_orders_brin
Create Date: 2026-12-07 14:50:00
"""

from collections.abc import Sequence

from alembic import op


revision: str = '0012_brin_autosummarize_off'
down_revision: str | None = '0011_work_orders_brin'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER INDEX ix_work_orders_received_at SET (autosummarize = off)')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER INDEX ix_work_orders_received_at SET (autosummarize = on)')
