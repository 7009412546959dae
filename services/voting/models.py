"""Voting's tables: meetings and their rosters, agenda items, ballots and votes."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.db import IdColumnType, UTCDateTime, new_id, new_metadata
from shared.messaging.events import utcnow, topics_produced_by
from shared.messaging.inbox import InboxMixin
from shared.messaging.outbox import OutboxMixin
from shared.security.tables import ApiKeyMixin, AuditMixin, IdempotencyKeyMixin, RateLimitCounterMixin, SecurityModels
from shared.messaging.webhooks import WebhookDeliveryMixin, WebhookModels, WebhookSubscriptionMixin


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
    nonvoting_attendees: Mapped[list[NonVotingAttendee]] = relationship(
        back_populates="meeting", order_by="NonVotingAttendee.recorded_at", cascade="all, delete-orphan"
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


class NonVotingAttendee(Base):
    """Someone attending without a vote (列席): kept apart from the roster, never counted for quorum."""

    __tablename__ = "nonvoting_attendees"

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    meeting_id: Mapped[str] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    affiliation: Mapped[str | None] = mapped_column(String(200))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    meeting: Mapped[Meeting] = relationship(back_populates="nonvoting_attendees")


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
    # The clerk recorded counts by show of hands (devices failed): no individual votes.
    show_of_hands: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    voided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    void_reason: Mapped[str | None] = mapped_column(Text)
    # A re-run points at the voided ballot it replaces; one re-run per voided ballot.
    rerun_of_ballot_id: Mapped[str | None] = mapped_column(ForeignKey("ballots.id"), unique=True)
    # The per-ballot key sealing the choices while open, wrapped under the service secret;
    # erased at close or void so the sealed rows can never be opened again.
    wrapped_seal_key: Mapped[str | None] = mapped_column(Text)
    # Yes/no/abstain ballots: what "more than half" counts against.
    pass_basis: Mapped[str | None] = mapped_column(String(20))
    # Competitive selection (差额): candidates, seats, floor rule, winners, and the round.
    candidates: Mapped[list | None] = mapped_column(JSON)
    seats: Mapped[int | None] = mapped_column(Integer)
    floor_rule: Mapped[str | None] = mapped_column(String(30))
    winners: Mapped[list | None] = mapped_column(JSON)
    round_kind: Mapped[str | None] = mapped_column(String(20))
    parent_ballot_id: Mapped[str | None] = mapped_column(ForeignKey("ballots.id"), index=True)
    plan_id: Mapped[str | None] = mapped_column(String(100))
    batch: Mapped[int | None] = mapped_column(Integer)
    # The plan's competitive ratio (差额比例, percent more candidates than seats): it sizes a supplementary round.
    surplus_min_percent: Mapped[int | None] = mapped_column(Integer)
    surplus_max_percent: Mapped[int | None] = mapped_column(Integer)
    # A list runoff (round_kind "list_runoff"): who is on the supplementary list already and the seats it will fill.
    supplementary_placed: Mapped[list | None] = mapped_column(JSON)
    supplementary_seats: Mapped[int | None] = mapped_column(Integer)
    # Satisfaction ballots: the grade scoring gave it under the plan's rule (score.computed), for the record.
    grade: Mapped[str | None] = mapped_column(String(30))
    grade_label: Mapped[str | None] = mapped_column(String(30))
    grade_denominator: Mapped[int | None] = mapped_column(Integer)
    grade_basis: Mapped[str | None] = mapped_column(String(30))
    # Nomination polls: the constituency polled and how many departments a voter may choose.
    constituency: Mapped[str | None] = mapped_column(String(40))
    max_choices: Mapped[int | None] = mapped_column(Integer)

    questions: Mapped[list[BallotQuestion]] = relationship(order_by="BallotQuestion.position", cascade="all, delete-orphan")


class BallotQuestion(Base):
    """One question of a yes/no/abstain ballot: a resolution, or one appointee."""

    __tablename__ = "ballot_questions"
    __table_args__ = (UniqueConstraint("ballot_id", "position"),)

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    ballot_id: Mapped[str] = mapped_column(ForeignKey("ballots.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(String(500))
    # Filled at close.
    counts: Mapped[dict | None] = mapped_column(JSON)
    votes_cast: Mapped[int | None] = mapped_column(Integer)
    passed: Mapped[bool | None] = mapped_column(Boolean)


class PollVoter(Base):
    """A voter on a nomination poll's constituency roster (deputies, working committees, …)."""

    __tablename__ = "poll_voters"
    __table_args__ = (UniqueConstraint("ballot_id", "voter_id"),)

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    ballot_id: Mapped[str] = mapped_column(ForeignKey("ballots.id", ondelete="CASCADE"), index=True)
    voter_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(100))


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
    """What was voted and the hash of the voter's receipt code (no time, no member).

    While the ballot is open only `sealed` is set (the choice encrypted under the
    ballot's key), because on Postgres this row shares its writing transaction
    (xmin) with the voter's participation row. The close opens every seal in one
    transaction and writes `choice`/`answers`, so the readable rows carry the
    close's xmin, not the voter's."""

    __tablename__ = "ballot_votes"

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    ballot_id: Mapped[str] = mapped_column(ForeignKey("ballots.id"), index=True)
    sealed: Mapped[str | None] = mapped_column(Text)
    choice: Mapped[str | None] = mapped_column(String(40))
    # Yes/no/abstain ballots: question id -> answer.
    answers: Mapped[dict | None] = mapped_column(JSON)
    receipt_hash: Mapped[str] = mapped_column(String(64), unique=True)


class CandidateSlate(Base):
    """The latest slate scoring computed for a plan and batch (score.computed,
    composite_ranking), for the clerk to start a competitive selection from."""

    __tablename__ = "candidate_slates"
    __table_args__ = (UniqueConstraint("plan_id", "batch_key"),)

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    plan_id: Mapped[str] = mapped_column(String(100))
    # `batch` or 0 when the plan has no batches: NULLs would not be unique.
    batch_key: Mapped[int] = mapped_column(Integer)
    batch: Mapped[int | None] = mapped_column(Integer)
    evaluation_year: Mapped[int | None] = mapped_column(Integer)
    seats: Mapped[int | None] = mapped_column(Integer)
    candidates: Mapped[list] = mapped_column(JSON)
    surplus_min_percent: Mapped[int | None] = mapped_column(Integer)
    surplus_max_percent: Mapped[int | None] = mapped_column(Integer)
    computation_id: Mapped[str] = mapped_column(String(100))
    event_id: Mapped[str] = mapped_column(String(36))
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


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


class PublicPoll(Base):
    """An online public vote (网上社会投票) with a scheduled open and close."""

    __tablename__ = "public_polls"

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    meeting_id: Mapped[str] = mapped_column(ForeignKey("meetings.id"), index=True)
    title: Mapped[str] = mapped_column(String(500))
    evaluation_year: Mapped[int] = mapped_column(Integer)
    plan_id: Mapped[str | None] = mapped_column(String(100))
    batch: Mapped[int | None] = mapped_column(Integer)
    options: Mapped[list] = mapped_column(JSON)
    max_choices: Mapped[int] = mapped_column(Integer)
    opens_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    closes_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Filled when tallied after the close.
    tallied_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    counts: Mapped[dict | None] = mapped_column(JSON)
    votes_cast: Mapped[int | None] = mapped_column(Integer)


class PublicVoter(Base):
    """Who has voted: only a keyed hash of the verified identity, never the phone or ID number.
    The unique constraint is what allows one vote per identity per poll."""

    __tablename__ = "public_voters"
    __table_args__ = (UniqueConstraint("poll_id", "identity_hash"),)

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    poll_id: Mapped[str] = mapped_column(ForeignKey("public_polls.id"))
    identity_hash: Mapped[str] = mapped_column(String(64))


class PublicVote(Base):
    """What was chosen, with no identity and no time."""

    __tablename__ = "public_votes"

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    poll_id: Mapped[str] = mapped_column(ForeignKey("public_polls.id"), index=True)
    choices: Mapped[list] = mapped_column(JSON)


class PublicVerificationCode(Base):
    """The SMS one-time code of one phone for one poll: only keyed hashes of the phone and
    the code, with what limits it (resend cooldown, codes sent today, wrong tries, lock).
    The phone's hash here is keyed apart from the voter's: the two tables cannot be joined."""

    __tablename__ = "public_verification_codes"
    __table_args__ = (UniqueConstraint("poll_id", "phone_hash"),)

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    poll_id: Mapped[str] = mapped_column(ForeignKey("public_polls.id"))
    phone_hash: Mapped[str] = mapped_column(String(64))
    code_hash: Mapped[str | None] = mapped_column(String(64))  # None once used
    code_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    sent_on: Mapped[dt.date | None] = mapped_column(Date)  # Beijing date of the day's count
    sent_that_day: Mapped[int] = mapped_column(Integer, default=0)
    wrong_codes: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


# Tables declared by shared mixins, one line each.
class RateLimitCounter(RateLimitCounterMixin, Base): pass
class OutboxMessage(OutboxMixin, Base): pass
class InboxMessage(InboxMixin, Base): pass
class ApiKey(ApiKeyMixin, Base): pass
class IdempotencyKey(IdempotencyKeyMixin, Base): pass
class AuditEntry(AuditMixin, Base): pass

SECURITY_MODELS = SecurityModels(api_key=ApiKey, idempotency_key=IdempotencyKey, audit_entry=AuditEntry,
                                 rate_limit_counter=RateLimitCounter)


# Tables declared by shared mixins, one line each.
class WebhookSubscription(WebhookSubscriptionMixin, Base): pass
class WebhookDelivery(WebhookDeliveryMixin, Base): pass

WEBHOOKS = WebhookModels(subscription=WebhookSubscription, delivery=WebhookDelivery, topics=topics_produced_by("voting"))
