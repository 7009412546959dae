"""Tracking's tables: evaluation cases, unsatisfied rounds, investigations, re-reports, timeline."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.db import IdColumnType, UTCDateTime, new_id, new_metadata
from shared.events import utcnow
from shared.inbox import InboxMixin
from shared.outbox import OutboxMixin


class Base(DeclarativeBase):
    metadata = new_metadata()


class EvaluationCase(Base):
    """One department's special work evaluation in one year (专项工作评议)."""

    __tablename__ = "evaluation_cases"
    __table_args__ = (UniqueConstraint("department", "evaluation_year"),)

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    department: Mapped[str] = mapped_column(String(200))
    evaluation_year: Mapped[int] = mapped_column(Integer, index=True)
    status: Mapped[str] = mapped_column(String(30), default="open")
    stage: Mapped[str] = mapped_column(String(40), default="rectification")
    latest_grade: Mapped[str | None] = mapped_column(String(30))
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    unsatisfied_rounds: Mapped[list[UnsatisfiedRound]] = relationship(order_by="UnsatisfiedRound.round", back_populates="case")
    investigations: Mapped[list[Investigation]] = relationship(order_by="Investigation.opened_at", back_populates="case")
    rereports: Mapped[list[Rereport]] = relationship(order_by="Rereport.vote_round", back_populates="case")
    timeline: Mapped[list[TimelineEntry]] = relationship(order_by="TimelineEntry.at", back_populates="case")


class UnsatisfiedRound(Base):
    __tablename__ = "unsatisfied_rounds"
    __table_args__ = (UniqueConstraint("case_id", "round"),)

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("evaluation_cases.id"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    vote_round: Mapped[int] = mapped_column(Integer)
    ballot_id: Mapped[str] = mapped_column(String(36))
    meeting_id: Mapped[str] = mapped_column(String(36))
    meeting_date: Mapped[dt.date] = mapped_column(Date)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[EvaluationCase] = relationship(back_populates="unsatisfied_rounds")


class Investigation(Base):
    """A special investigation (专题调研) by the research group after a 不满意."""

    __tablename__ = "investigations"

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("evaluation_cases.id"), index=True)
    unsatisfied_round: Mapped[int] = mapped_column(Integer)
    research_group: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="open")
    due_on: Mapped[dt.date] = mapped_column(Date)
    findings: Mapped[str | None] = mapped_column(Text)
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[EvaluationCase] = relationship(back_populates="investigations")


class Rereport(Base):
    """A re-report, inquiry or interpellation, and re-vote at the next meeting."""

    __tablename__ = "rereports"
    __table_args__ = (UniqueConstraint("case_id", "vote_round"),)

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("evaluation_cases.id"), index=True)
    vote_round: Mapped[int] = mapped_column(Integer)
    mode: Mapped[str] = mapped_column(String(40))
    after_meeting_id: Mapped[str] = mapped_column(String(36))
    after_meeting_date: Mapped[dt.date] = mapped_column(Date)
    investigation_id: Mapped[str | None] = mapped_column(ForeignKey("investigations.id"))
    event_id: Mapped[str] = mapped_column(String(36))
    scheduled_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[EvaluationCase] = relationship(back_populates="rereports")


class TimelineEntry(Base):
    """Every state change of a case, with its source (an event id or an HTTP caller)."""

    __tablename__ = "timeline_entries"

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("evaluation_cases.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(50))
    summary: Mapped[str] = mapped_column(String(500))
    source: Mapped[str] = mapped_column(String(200))
    detail: Mapped[dict | None] = mapped_column(JSON)

    case: Mapped[EvaluationCase] = relationship(back_populates="timeline")


class OutboxMessage(OutboxMixin, Base):
    pass


class InboxMessage(InboxMixin, Base):
    pass
