"""Agenda items, and re-reports put on the next meeting's agenda (rereport.scheduled)."""

from __future__ import annotations

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from services.voting.models import AgendaItem, Meeting, PendingRereport
from shared.messaging.events import Envelope, RereportScheduled

REREPORT_KIND = "rereport_revote"
MODE_LABELS = {
    "inquiry_or_interpellation": "询问或质询",
    "inquiry": "询问",
    "interpellation": "质询",
}


def add_agenda_item(session: Session, meeting: Meeting, **fields) -> AgendaItem:
    last = session.scalar(select(func.max(AgendaItem.position)).where(AgendaItem.meeting_id == meeting.id))
    item = AgendaItem(meeting_id=meeting.id, position=(last or 0) + 1, **fields)
    session.add(item)
    session.flush()
    session.refresh(meeting, ["agenda"])
    return item


def _rereport_title(pending: PendingRereport) -> str:
    mode = MODE_LABELS.get(pending.mode, pending.mode)
    return f"再次听取{pending.department}{pending.evaluation_year}年度专项工作报告，进行{mode}和再次电子表决"


def _attach(session: Session, pending: PendingRereport, meeting: Meeting) -> AgendaItem:
    item = add_agenda_item(
        session,
        meeting,
        kind=REREPORT_KIND,
        title=_rereport_title(pending),
        department=pending.department,
        evaluation_year=pending.evaluation_year,
        vote_round=pending.vote_round,
        mode=pending.mode,
        source_event_id=pending.event_id,
    )
    pending.agenda_item_id = item.id
    return item


def next_meeting_after(session: Session, after: Meeting | PendingRereport) -> Meeting | None:
    date = after.held_on if isinstance(after, Meeting) else after.after_meeting_date
    return session.scalars(select(Meeting).where(Meeting.held_on > date).order_by(Meeting.held_on, Meeting.number).limit(1)).first()


def attach_waiting_rereports(session: Session, meeting: Meeting) -> list[AgendaItem]:
    """A new meeting takes every re-report whose next meeting it now is: those
    still waiting, and those put on a later meeting whose vote has not begun."""
    candidates = session.scalars(
        select(PendingRereport)
        .where(PendingRereport.after_meeting_date < meeting.held_on)
        .order_by(PendingRereport.received_at)
    ).all()
    attached = []
    for pending in candidates:
        if next_meeting_after(session, pending) is not meeting:
            continue
        if pending.agenda_item_id is not None:
            current = session.get(AgendaItem, pending.agenda_item_id)
            if current.meeting_id == meeting.id or _has_ballot(session, current):
                continue
            pending.agenda_item_id = None
            session.delete(current)
            session.flush()
        attached.append(_attach(session, pending, meeting))
    return attached


def _has_ballot(session: Session, item: AgendaItem) -> bool:
    from services.voting.models import Ballot

    return session.scalar(select(func.count(Ballot.id)).where(Ballot.agenda_item_id == item.id)) > 0


def handle_rereport_scheduled(session: Session, envelope: Envelope) -> None:
    event = RereportScheduled.from_envelope(envelope)
    pending = PendingRereport(
        event_id=str(envelope.event_id),
        case_id=event.case_id,
        department=event.department,
        evaluation_year=event.evaluation_year,
        vote_round=event.vote_round,
        mode=event.mode,
        after_meeting_id=event.after_meeting_id,
        after_meeting_date=event.after_meeting_date,
    )
    session.add(pending)
    session.flush()
    if session.get_bind().dialect.name == "postgresql":
        # A meeting being created right now must either be seen here or see this
        # pending re-report when it commits; otherwise neither attaches it, ever.
        # (Creating a meeting inserts into meetings, which this mode waits for.)
        session.execute(text("LOCK TABLE meetings IN SHARE ROW EXCLUSIVE MODE"))
    meeting = next_meeting_after(session, pending)
    if meeting is not None:
        _attach(session, pending, meeting)
