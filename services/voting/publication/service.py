"""Published voting data. A ballot's result is public from the moment it
closes: it is announced in the open chamber (the hall's screen shows it), so
closed and published ballots count; drafts, open ballots' choices and void
ballots never do."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from services.voting.ballots.service import FINISHED, POLL_KIND, SELECTION_KIND, ballot_out, get_ballot
from services.voting.domain.tally import has_quorum
from services.voting.meetings.service import get_meeting, present_count
from services.voting.models import Ballot, Meeting
from services.voting.publication.schemas import MeetingBoard, PublicBallot, PublicMeeting
from shared.web.pagination import Page, paginate
from shared.web.problems import Problem

# Nomination polls are constituency polls run outside the chamber: not on its board.
BOARD_STATUSES = ("open", *FINISHED)


def public_meeting(meeting: Meeting) -> PublicMeeting:
    return PublicMeeting(id=meeting.id, number=meeting.number, held_on=meeting.held_on, place=meeting.place,
                         members_total=len(meeting.members))


def list_public_meetings(session: Session, *, limit: int, cursor: str | None) -> Page[PublicMeeting]:
    stmt = select(Meeting).options(selectinload(Meeting.members))
    return paginate(session, stmt, [Meeting.held_on, Meeting.number], limit=limit, cursor=cursor, to_item=public_meeting)


def public_ballot(session: Session, ballot: Ballot) -> PublicBallot:
    # The full read model, narrowed to what may be shown (the schema drops the rest).
    return PublicBallot.model_validate(ballot_out(session, ballot).model_dump())


def meeting_board(session: Session, meeting_id: str) -> MeetingBoard:
    meeting = get_meeting(session, meeting_id)
    candidates = session.scalars(
        select(Ballot).where(Ballot.meeting_id == meeting_id, Ballot.status.in_(BOARD_STATUSES), Ballot.kind != POLL_KIND)
    ).all()
    current = next((b for b in candidates if b.status == "open"), None)
    if current is None and candidates:
        current = max(candidates, key=lambda b: (b.closed_at, b.id))
    present, total = present_count(meeting), len(meeting.members)
    return MeetingBoard(meeting=public_meeting(meeting), members_total=total, present=present,
                        quorum=has_quorum(present, total),
                        ballot=public_ballot(session, current) if current is not None else None)


def not_published(ballot_id: str) -> Problem:
    return Problem(404, "result-not-published", "Result not published 表决结果尚未公布",
                   f"ballot {ballot_id} has no published result (it is not closed)", ballot_id=ballot_id)


def published_ballot(session: Session, ballot_id: str) -> PublicBallot:
    ballot = get_ballot(session, ballot_id)
    if ballot.status not in FINISHED or ballot.kind == POLL_KIND:
        raise not_published(ballot_id)
    return public_ballot(session, ballot)


def selection_rounds(session: Session, plan_id: str, batch: int | None) -> list[PublicBallot]:
    """Every finished round of a batch's selection (main, runoff, supplementary), in the order held."""
    stmt = select(Ballot).where(Ballot.kind == SELECTION_KIND, Ballot.plan_id == plan_id, Ballot.status.in_(FINISHED))
    if batch is not None:
        stmt = stmt.where(Ballot.batch == batch)
    return [public_ballot(session, b) for b in session.scalars(stmt.order_by(Ballot.closed_at, Ballot.id))]
