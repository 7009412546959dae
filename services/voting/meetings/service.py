"""Meetings, rosters and attendance."""

from __future__ import annotations

import datetime as dt

import jwt
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from services.voting.agenda.service import attach_waiting_rereports
from services.voting.domain.tally import has_quorum
from shared.security.credentials import member_scopes
from services.voting.meetings.schemas import (
    AgendaItemOut,
    MeetingCreate,
    MeetingDetail,
    MeetingOut,
    MemberTokenCreate,
    MemberTokenOut,
    NonVotingAttendeeIn,
    NonVotingAttendeeOut,
    RosterMemberOut,
)
from services.voting.models import AgendaItem, Ballot, Meeting, NonVotingAttendee, PollVoter, RosterMember
from shared.security.credentials import issue_member_token
from shared.messaging.events import utcnow
from shared.web.pagination import Page, paginate
from shared.web.problems import Problem, not_found


def get_meeting(session: Session, meeting_id: str) -> Meeting:
    meeting = session.get(Meeting, meeting_id, options=[
        selectinload(Meeting.members), selectinload(Meeting.agenda), selectinload(Meeting.nonvoting_attendees),
    ])
    if meeting is None:
        raise not_found("meeting", meeting_id)
    return meeting


def create_meeting(session: Session, data: MeetingCreate) -> Meeting:
    meeting = Meeting(number=data.number, held_on=data.held_on, place=data.place)
    meeting.members = [
        RosterMember(member_id=m.member_id, name=m.name, position=i) for i, m in enumerate(data.members)
    ]
    meeting.agenda = []
    meeting.nonvoting_attendees = []
    session.add(meeting)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Problem(409, "meeting-exists", "Meeting exists 会议已存在", f"a meeting numbered {data.number} already exists", number=data.number)
    attach_waiting_rereports(session, meeting)
    return meeting


def set_attendance(session: Session, meeting: Meeting, member_ids: list[str], *, present: bool) -> None:
    by_id = {m.member_id: m for m in meeting.members}
    unknown = [i for i in member_ids if i not in by_id]
    if unknown:
        raise Problem(
            403, "not-a-member", "Not a member 非本次会议组成人员",
            f"not on the roster of meeting {meeting.number}: {', '.join(unknown)}", member_ids=unknown,
        )
    now = utcnow()
    for member_id in member_ids:
        member = by_id[member_id]
        member.present = present
        if present:
            member.checked_in_at = now
        else:
            member.checked_out_at = now


def add_nonvoting_attendees(session: Session, meeting: Meeting, attendees: list[NonVotingAttendeeIn]) -> None:
    now = utcnow()
    for attendee in attendees:
        meeting.nonvoting_attendees.append(NonVotingAttendee(name=attendee.name, affiliation=attendee.affiliation, recorded_at=now))
    session.flush()


def present_count(meeting: Meeting) -> int:
    return sum(1 for m in meeting.members if m.present)


def meeting_out(meeting: Meeting, *, detail: bool = False) -> MeetingOut:
    present = present_count(meeting)
    total = len(meeting.members)
    data = dict(
        id=meeting.id,
        number=meeting.number,
        held_on=meeting.held_on,
        place=meeting.place,
        members_total=total,
        present=present,
        quorum=has_quorum(present, total),
        agenda=[AgendaItemOut.model_validate(a, from_attributes=True) for a in meeting.agenda],
    )
    if detail:
        return MeetingDetail(
            **data,
            members=[RosterMemberOut.model_validate(m, from_attributes=True) for m in meeting.members],
            nonvoting_attendees=[NonVotingAttendeeOut.model_validate(a, from_attributes=True) for a in meeting.nonvoting_attendees],
        )
    return MeetingOut(**data)


def list_meetings(session: Session, *, limit: int, cursor: str | None, only: str | None = None) -> Page[MeetingOut]:
    """By date, then number (unique); `only`: that meeting alone (a member token's own)."""
    stmt = select(Meeting).options(selectinload(Meeting.members), selectinload(Meeting.agenda))
    if only is not None:
        stmt = stmt.where(Meeting.id == only)
    return paginate(session, stmt, [Meeting.held_on, Meeting.number], limit=limit, cursor=cursor, to_item=meeting_out)


def list_agenda(session: Session, meeting_id: str, *, limit: int, cursor: str | None) -> Page[AgendaItemOut]:
    """In agenda order (position is unique within a meeting)."""
    if session.get(Meeting, meeting_id) is None:
        raise not_found("meeting", meeting_id)
    return paginate(session, select(AgendaItem).where(AgendaItem.meeting_id == meeting_id), [AgendaItem.position],
                    limit=limit, cursor=cursor, to_item=lambda a: AgendaItemOut.model_validate(a, from_attributes=True))


def issue_token(session: Session, meeting: Meeting, data: MemberTokenCreate, *, secret: str, ttl: dt.timedelta) -> MemberTokenOut:
    """A member token for a roster member (or a voter of one of the meeting's
    nomination polls); a clerk's token runs the meeting's votes too."""
    on_roster = any(m.member_id == data.member_id for m in meeting.members)
    if not on_roster and not data.clerk:
        on_roster = session.scalar(
            select(PollVoter.id).join(Ballot, Ballot.id == PollVoter.ballot_id)
            .where(Ballot.meeting_id == meeting.id, PollVoter.voter_id == data.member_id).limit(1)
        ) is not None
    if not on_roster:
        raise Problem(403, "not-a-member", "Not a member 非本次会议组成人员",
                      f"{data.member_id} is not on the roster of meeting {meeting.number}"
                      + ("" if data.clerk else " nor of its nomination polls"), member_id=data.member_id)
    scopes = member_scopes(clerk=data.clerk)
    token = issue_member_token(secret, member_id=data.member_id, meeting_id=meeting.id, scopes=scopes, ttl=ttl)
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    return MemberTokenOut(token=token, member_id=data.member_id, meeting_id=meeting.id, scopes=sorted(scopes),
                          expires_at=dt.datetime.fromtimestamp(expires, dt.UTC))
