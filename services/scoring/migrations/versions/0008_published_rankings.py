"""published rankings: a batch's ranking made public when its selection vote closes

Revision ID: 0008_published_rankings
Revises: 0007_outbox_broker_positions
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = "0008_published_rankings"
down_revision: str | None = '0007_outbox_broker_positions'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "published_rankings",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("plan_id", sa.String(length=36), nullable=False),
        sa.Column("batch", sa.Integer(), nullable=False),
        sa.Column("computation_id", sa.String(length=36), nullable=False),
        sa.Column("selection_ballot_id", sa.String(length=36), nullable=False),
        sa.Column("meeting_number", sa.String(length=100), nullable=False),
        sa.Column("meeting_date", sa.Date(), nullable=False),
        sa.Column("published_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_published_rankings")),
        sa.UniqueConstraint("plan_id", "batch", name=op.f("uq_published_rankings_plan_id_batch")),
    )


def downgrade() -> None:
    op.drop_table("published_rankings")
