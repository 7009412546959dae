"""Voting's tables: meetings and their rosters, agenda items, ballots and votes."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.db import IdColumnType, UTCDateTime, new_id, new_metadata
from shared.events import utcnow
from shared.inbox import InboxMixin
from shared.outbox import OutboxMixin


class Base(DeclarativeBase):
    metadata = new_metadata()


class Meeting(Base):
    """A Standing Committee meeting (常委会会议), e.g. 第四十四次会议."""

    __tablename__ = "meetings"

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    number: Mapped[str] = mapped_column(String(100), unique=True)
    held_on: Mapped[dt.date] = mapped_column(Date, index=True)
    place: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    members: Mapped[list[RosterMember]] = relationship(
        back_populates="meeting", order_by="RosterMember.position", cascade="all, delete-orphan"
    )
    agenda: Mapped[list[AgendaItem]] = relationship(
        back_populates="meeting", order_by="AgendaItem.position", cascade="all, delete-orphan"
    )


class RosterMember(Base):
    """One of all the members (全体组成人员) of the committee for a meeting; the count is fixed."""

    __tablename__ = "roster_members"
    __table_args__ = (UniqueConstraint("meeting_id", "member_id"),)

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    meeting_id: Mapped[str] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer)
    present: Mapped[bool] = mapped_column(Boolean, default=False)
    checked_in_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    checked_out_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    meeting: Mapped[Meeting] = relationship(back_populates="members")


class AgendaItem(Base):
    __tablename__ = "agenda_items"
    __table_args__ = (UniqueConstraint("meeting_id", "position"),)

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    meeting_id: Mapped[str] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(500))
    department: Mapped[str | None] = mapped_column(String(200))
    evaluation_year: Mapped[int | None] = mapped_column(Integer)
    vote_round: Mapped[int | None] = mapped_column(Integer)
    mode: Mapped[str | None] = mapped_column(String(40))
    # The rereport.scheduled event this item was created from, if any.
    source_event_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    meeting: Mapped[Meeting] = relationship(back_populates="agenda")


class Ballot(Base):
    __tablename__ = "ballots"

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    meeting_id: Mapped[str] = mapped_column(ForeignKey("meetings.id"), index=True)
    agenda_item_id: Mapped[str | None] = mapped_column(ForeignKey("agenda_items.id"))
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(500))
    department: Mapped[str | None] = mapped_column(String(200))
    evaluation_year: Mapped[int | None] = mapped_column(Integer)
    vote_round: Mapped[int] = mapped_column(Integer, default=1)
    secret: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(20), default="draft")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    opened_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    members_total: Mapped[int] = mapped_column(Integer)
    present_at_open: Mapped[int | None] = mapped_column(Integer)
    present_at_close: Mapped[int | None] = mapped_column(Integer)
    # Filled at close: votes per option code, invalid ballots, ballots cast.
    counts: Mapped[dict | None] = mapped_column(JSON)
    invalid: Mapped[int | None] = mapped_column(Integer)
    votes_cast: Mapped[int | None] = mapped_column(Integer)


class BallotParticipation(Base):
    """Who voted on a ballot. Kept apart from `BallotVote` with no link, so a
    secret ballot cannot be traced back to the member."""

    __tablename__ = "ballot_participations"
    __table_args__ = (UniqueConstraint("ballot_id", "member_id"),)

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    ballot_id: Mapped[str] = mapped_column(ForeignKey("ballots.id"), index=True)
    member_id: Mapped[str] = mapped_column(String(100))
    voted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class BallotVote(Base):
    """What was voted: the choice and the hash of the voter's receipt code (no time, no member)."""

    __tablename__ = "ballot_votes"

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    ballot_id: Mapped[str] = mapped_column(ForeignKey("ballots.id"), index=True)
    choice: Mapped[str] = mapped_column(String(40))
    receipt_hash: Mapped[str] = mapped_column(String(64), unique=True)


class PendingRereport(Base):
    """A re-report and re-vote asked for by tracking, waiting for the next meeting."""

    __tablename__ = "pending_rereports"

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    case_id: Mapped[str] = mapped_column(String(36))
    department: Mapped[str] = mapped_column(String(200))
    evaluation_year: Mapped[int] = mapped_column(Integer)
    vote_round: Mapped[int] = mapped_column(Integer)
    mode: Mapped[str] = mapped_column(String(40))
    after_meeting_id: Mapped[str] = mapped_column(String(36))
    after_meeting_date: Mapped[dt.date] = mapped_column(Date)
    agenda_item_id: Mapped[str | None] = mapped_column(ForeignKey("agenda_items.id"))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    detail: Mapped[str | None] = mapped_column(Text)


class OutboxMessage(OutboxMixin, Base):
    pass


class InboxMessage(InboxMixin, Base):
    pass
