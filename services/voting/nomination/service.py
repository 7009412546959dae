"""Nomination polls of the four constituencies: a roster per poll, up to N departments each."""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.voting.ballots.service import POLL_KIND
from services.voting.meetings.service import get_meeting
from services.voting.models import Ballot, PollVoter
from services.voting.nomination.schemas import CONSTITUENCY_LABELS, NominationPollCreate


def create_poll(session: Session, data: NominationPollCreate) -> Ballot:
    meeting = get_meeting(session, data.meeting_id)
    label = CONSTITUENCY_LABELS[data.constituency]
    poll = Ballot(
        meeting_id=meeting.id, kind=POLL_KIND, title=data.title or f"{data.evaluation_year}年度专项工作评议对象推荐投票（{label}）",
        evaluation_year=data.evaluation_year, vote_round=1, secret=True, status="draft", members_total=len(data.voters),
        candidates=list(data.departments), max_choices=data.max_choices, constituency=data.constituency,
        plan_id=data.plan_id, batch=data.batch,
    )
    session.add(poll)
    session.flush()
    session.add_all([PollVoter(ballot_id=poll.id, voter_id=v.voter_id, name=v.name) for v in data.voters])
    session.flush()
    return poll
