"""Scoring's tables: graded satisfaction votes (year plans and composites come later)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Date, Integer, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import IdColumnType, UTCDateTime, new_id, new_metadata
from shared.events import utcnow
from shared.inbox import InboxMixin
from shared.outbox import OutboxMixin


class Base(DeclarativeBase):
    metadata = new_metadata()


class SatisfactionResult(Base):
    """One satisfaction ballot graded under a rule."""

    __tablename__ = "satisfaction_results"
    __table_args__ = (UniqueConstraint("ballot_id"),)

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    ballot_id: Mapped[str] = mapped_column(String(36))
    department: Mapped[str] = mapped_column(String(200), index=True)
    evaluation_year: Mapped[int] = mapped_column(Integer, index=True)
    vote_round: Mapped[int] = mapped_column(Integer)
    meeting_id: Mapped[str] = mapped_column(String(36))
    meeting_number: Mapped[str] = mapped_column(String(100))
    meeting_date: Mapped[dt.date] = mapped_column(Date)
    counts: Mapped[dict] = mapped_column(JSON)
    invalid: Mapped[int] = mapped_column(Integer)
    votes_cast: Mapped[int] = mapped_column(Integer)
    present: Mapped[int] = mapped_column(Integer)
    members_total: Mapped[int] = mapped_column(Integer)
    show_of_hands: Mapped[bool] = mapped_column(default=False)
    grade: Mapped[str] = mapped_column(String(30))
    denominator: Mapped[int] = mapped_column(Integer)
    denominator_basis: Mapped[str] = mapped_column(String(20))
    grades_in_rule: Mapped[int] = mapped_column(Integer)
    # 1 for this department's first 不满意 of the year, 2 for the second, …
    unsatisfied_round: Mapped[int | None] = mapped_column(Integer)
    source_event_id: Mapped[str] = mapped_column(String(36))
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboxMessage(OutboxMixin, Base):
    pass


class InboxMessage(InboxMixin, Base):
    pass
