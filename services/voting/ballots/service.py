"""Satisfaction ballots: create, open under quorum, cast, close and tally."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.voting.ballots.schemas import BallotOut, OptionCount, SatisfactionBallotCreate, SatisfactionVoteCast
from services.voting.domain.tally import SATISFACTION_OPTIONS, has_quorum, tally_single_choice
from services.voting.meetings.service import get_meeting, present_count
from services.voting.models import AgendaItem, Ballot, BallotParticipation, BallotVote, Meeting, OutboxMessage
from shared.events import BallotClosed, BallotSubject, Tally, utcnow
from shared.outbox import publish
from shared.problems import Problem, not_found

SATISFACTION_KIND = "satisfaction"


def get_ballot(session: Session, ballot_id: str, *, for_update: bool = False) -> Ballot:
    stmt = select(Ballot).where(Ballot.id == ballot_id)
    if for_update:
        stmt = stmt.with_for_update()
    ballot = session.scalars(stmt).first()
    if ballot is None:
        raise not_found("ballot", ballot_id)
    return ballot


def create_satisfaction_ballot(session: Session, meeting: Meeting, data: SatisfactionBallotCreate) -> Ballot:
    department, year, vote_round = data.department, data.evaluation_year, data.vote_round
    item = None
    if data.agenda_item_id is not None:
        item = session.get(AgendaItem, data.agenda_item_id)
        if item is None or item.meeting_id != meeting.id:
            raise Problem(422, "unknown-agenda-item", "Unknown agenda item 议程不存在",
                          f"agenda item {data.agenda_item_id} is not on meeting {meeting.number}")
        department = department or item.department
        year = year or item.evaluation_year
        vote_round = vote_round or item.vote_round
    missing = [name for name, value in (("department", department), ("evaluation_year", year)) if value is None]
    if missing:
        raise Problem(422, "validation-error", "Invalid request 请求参数无效",
                      f"missing fields: {', '.join(missing)}", errors=[{"field": m, "message": "required"} for m in missing])
    ballot = Ballot(
        meeting_id=meeting.id,
        agenda_item_id=item.id if item else None,
        kind=SATISFACTION_KIND,
        title=data.title or f"对{department}{year}年度专项工作报告的满意度测评",
        department=department,
        evaluation_year=year,
        vote_round=vote_round or 1,
        secret=True,
        status="draft",
        members_total=len(meeting.members),
    )
    session.add(ballot)
    session.flush()
    return ballot


def _require_status(ballot: Ballot, expected: str) -> None:
    if ballot.status != expected:
        raise Problem(409, "ballot-not-open" if expected == "open" else "ballot-state",
                      "Ballot not open 表决未开始或已结束" if expected == "open" else "Wrong ballot state 表决状态不允许此操作",
                      f"ballot {ballot.id} is {ballot.status}, not {expected}", ballot_status=ballot.status)


def open_ballot(session: Session, ballot: Ballot) -> Ballot:
    if ballot.status == "closed":
        raise Problem(409, "ballot-closed", "Ballot closed 表决已结束", f"ballot {ballot.id} is closed and cannot change")
    _require_status(ballot, "draft")
    meeting = get_meeting(session, ballot.meeting_id)
    present = present_count(meeting)
    if not has_quorum(present, ballot.members_total):
        raise Problem(409, "no-quorum", "No quorum 出席人数未过半数",
                      f"{present} of {ballot.members_total} members present; more than half are needed",
                      present=present, members_total=ballot.members_total)
    ballot.status = "open"
    ballot.opened_at = utcnow()
    ballot.present_at_open = present
    return ballot


def _receipt_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def cast_vote(session: Session, ballot: Ballot, data: SatisfactionVoteCast) -> str:
    """Record one member's vote; returns the receipt code (only its hash is kept)."""
    if ballot.status != "open":
        _require_status(ballot, "open")
    meeting = get_meeting(session, ballot.meeting_id)
    member = next((m for m in meeting.members if m.member_id == data.member_id), None)
    if member is None:
        raise Problem(403, "not-a-member", "Not a member 非本次会议组成人员",
                      f"{data.member_id} is not on the roster of meeting {meeting.number}", member_id=data.member_id)
    if not member.present:
        raise Problem(403, "not-present", "Not present 未签到出席",
                      f"{data.member_id} has not checked in to meeting {meeting.number}", member_id=data.member_id)
    receipt_code = secrets.token_urlsafe(12)
    session.add(BallotParticipation(ballot_id=ballot.id, member_id=data.member_id, voted_at=utcnow()))
    try:
        # The unique (ballot, member) row decides a race between two requests.
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Problem(409, "already-voted", "Already voted 已投票",
                      f"{data.member_id} has already voted on ballot {ballot.id}", member_id=data.member_id)
    session.add(BallotVote(ballot_id=ballot.id, choice=data.choice, receipt_hash=_receipt_hash(receipt_code)))
    session.flush()
    return receipt_code


def receipt_counted(session: Session, ballot: Ballot, code: str) -> bool:
    return session.scalar(
        select(func.count(BallotVote.id)).where(BallotVote.ballot_id == ballot.id, BallotVote.receipt_hash == _receipt_hash(code))
    ) > 0


def votes_cast(session: Session, ballot: Ballot) -> int:
    if ballot.votes_cast is not None:
        return ballot.votes_cast
    return session.scalar(select(func.count(BallotParticipation.id)).where(BallotParticipation.ballot_id == ballot.id)) or 0


def close_ballot(session: Session, ballot: Ballot) -> Ballot:
    if ballot.status == "closed":
        raise Problem(409, "ballot-closed", "Ballot closed 表决已结束", f"ballot {ballot.id} is already closed")
    _require_status(ballot, "open")
    meeting = get_meeting(session, ballot.meeting_id)
    choices = session.scalars(select(BallotVote.choice).where(BallotVote.ballot_id == ballot.id)).all()
    tally = tally_single_choice(choices, SATISFACTION_OPTIONS)
    ballot.status = "closed"
    ballot.closed_at = utcnow()
    ballot.present_at_close = present_count(meeting)
    ballot.counts = tally.counts
    ballot.invalid = tally.invalid
    ballot.votes_cast = tally.votes_cast
    session.flush()
    publish(
        session,
        OutboxMessage,
        BallotClosed(
            ballot_id=ballot.id,
            ballot_kind=SATISFACTION_KIND,
            meeting_id=meeting.id,
            meeting_number=meeting.number,
            meeting_date=meeting.held_on,
            subject=BallotSubject(department=ballot.department, evaluation_year=ballot.evaluation_year, vote_round=ballot.vote_round),
            tally=Tally(
                counts=tally.counts,
                invalid=tally.invalid,
                votes_cast=tally.votes_cast,
                present=ballot.present_at_close,
                members_total=ballot.members_total,
            ),
            closed_at=ballot.closed_at,
        ),
        producer="voting",
        # By department: its ballots stay in order, so scoring counts its unsatisfied rounds right.
        key=ballot.department,
    )
    return ballot


def ballot_out(session: Session, ballot: Ballot) -> BallotOut:
    results = None
    if ballot.status == "closed" and ballot.counts is not None:
        results = [OptionCount(code=c, label=SATISFACTION_OPTIONS.get(c, c), votes=ballot.counts.get(c, 0)) for c in SATISFACTION_OPTIONS]
    return BallotOut(
        id=ballot.id,
        meeting_id=ballot.meeting_id,
        agenda_item_id=ballot.agenda_item_id,
        kind=ballot.kind,
        title=ballot.title,
        department=ballot.department,
        evaluation_year=ballot.evaluation_year,
        vote_round=ballot.vote_round,
        secret=ballot.secret,
        status=ballot.status,
        members_total=ballot.members_total,
        votes_cast=votes_cast(session, ballot),
        present_at_open=ballot.present_at_open,
        present_at_close=ballot.present_at_close,
        opened_at=ballot.opened_at,
        closed_at=ballot.closed_at,
        results=results,
        invalid=ballot.invalid,
    )
