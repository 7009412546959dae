"""Public online vote (网上社会投票): scheduled window, one vote per verified identity
(stored as a keyed hash only, enforced by a unique constraint), up to N choices,
live turnout, results only after the close."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.voting.ballots.schemas import OptionCount
from services.voting.domain.public import option_order
from services.voting.domain.selection import count_marks
from services.voting.meetings.service import get_meeting
from services.voting.models import OutboxMessage, PublicPoll, PublicVote, PublicVoter
from services.voting.public.schemas import BallotPaper, PublicPollCreate, PublicPollOut, PublicPollSchedule, Turnout
from shared.events import BallotClosed, BallotOption, Tally, utcnow
from shared.outbox import publish
from shared.problems import Problem, not_found

PUBLIC_KIND = "public_vote"


def get_poll(session: Session, poll_id: str, *, lock: str | None = None) -> PublicPoll:
    stmt = select(PublicPoll).where(PublicPoll.id == poll_id)
    if lock == "update":
        stmt = stmt.with_for_update()
    elif lock == "key_share":
        # Conflicts only with the close's FOR UPDATE: voters never wait for each other.
        stmt = stmt.with_for_update(read=True, key_share=True)
    poll = session.scalars(stmt).first()
    if poll is None:
        raise not_found("public poll", poll_id)
    return poll


def poll_status(poll: PublicPoll, now: dt.datetime) -> str:
    if poll.tallied_at is not None:
        return "tallied"
    if now < poll.opens_at:
        return "scheduled"
    return "open" if now < poll.closes_at else "closed"


def create_poll(session: Session, data: PublicPollCreate) -> PublicPoll:
    get_meeting(session, data.meeting_id)
    poll = PublicPoll(
        meeting_id=data.meeting_id, title=data.title or f"{data.evaluation_year}年度专项工作评议对象网上社会投票",
        evaluation_year=data.evaluation_year, plan_id=data.plan_id, batch=data.batch, options=list(data.options),
        max_choices=data.max_choices, opens_at=data.opens_at, closes_at=data.closes_at,
    )
    session.add(poll)
    session.flush()
    return poll


def reschedule(session: Session, poll: PublicPoll, data: PublicPollSchedule) -> PublicPoll:
    if poll.tallied_at is not None:
        raise Problem(409, "poll-tallied", "Poll tallied 投票已计票", f"public poll {poll.id} is tallied and cannot change")
    opens_at = data.opens_at or poll.opens_at
    closes_at = data.closes_at or poll.closes_at
    if closes_at <= opens_at:
        raise Problem(422, "validation-error", "Invalid request 请求参数无效", "closes_at must be after opens_at",
                      errors=[{"field": "closes_at", "message": "must be after opens_at"}])
    poll.opens_at, poll.closes_at = opens_at, closes_at
    return poll


def _require_open(poll: PublicPoll, now: dt.datetime) -> None:
    status = poll_status(poll, now)
    if status != "open":
        raise Problem(409, "poll-not-open", "Poll not open 投票未开始或已结束",
                      f"public poll {poll.id} is {status}", poll_status=status,
                      opens_at=poll.opens_at, closes_at=poll.closes_at)


def ballot_paper(poll: PublicPoll, voter_hash: str) -> BallotPaper:
    return BallotPaper(poll_id=poll.id, max_choices=poll.max_choices,
                       options=option_order(poll.options, poll_id=poll.id, voter_hash=voter_hash))


def cast(session: Session, poll: PublicPoll, voter_hash: str, choices: list[str], now: dt.datetime) -> None:
    _require_open(poll, now)
    if len(set(choices)) != len(choices):
        raise Problem(422, "validation-error", "Invalid request 请求参数无效", "an option is chosen twice",
                      errors=[{"field": "choices", "message": "an option is chosen twice"}])
    unknown = [c for c in choices if c not in poll.options]
    if unknown:
        raise Problem(422, "unknown-option", "Unknown option 选项不存在", f"not an option: {', '.join(unknown)}")
    if len(choices) > poll.max_choices:
        raise Problem(422, "too-many-choices", "Too many choices 选择超过限额",
                      f"{len(choices)} chosen; at most {poll.max_choices}", max_choices=poll.max_choices)
    session.add(PublicVoter(poll_id=poll.id, identity_hash=voter_hash))
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Problem(409, "identity-already-voted", "Already voted 该身份已投票",
                      f"this identity has already voted in public poll {poll.id}")
    session.add(PublicVote(poll_id=poll.id, choices=list(choices)))
    session.flush()


def votes_cast(session: Session, poll: PublicPoll) -> int:
    if poll.votes_cast is not None:
        return poll.votes_cast
    return session.scalar(select(func.count(PublicVoter.id)).where(PublicVoter.poll_id == poll.id)) or 0


def turnout(session: Session, poll: PublicPoll, now: dt.datetime) -> Turnout:
    return Turnout(poll_id=poll.id, status=poll_status(poll, now), votes_cast=votes_cast(session, poll),
                   opens_at=poll.opens_at, closes_at=poll.closes_at)


def tally(session: Session, poll: PublicPoll, now: dt.datetime) -> PublicPoll:
    """After the scheduled close: count, keep the result, announce ballot.closed."""
    status = poll_status(poll, now)
    if status != "closed":
        raise Problem(409, "poll-tallied" if status == "tallied" else "poll-not-closed",
                      "Poll tallied 投票已计票" if status == "tallied" else "Poll not closed 投票尚未结束",
                      f"public poll {poll.id} is {status}", poll_status=status, closes_at=poll.closes_at)
    choices = session.scalars(select(PublicVote.choices).where(PublicVote.poll_id == poll.id)).all()
    result = count_marks(choices, poll.options, poll.max_choices)
    poll.counts, poll.votes_cast, poll.tallied_at = result.counts, result.votes_cast, now
    meeting = get_meeting(session, poll.meeting_id)
    session.flush()
    publish(
        session, OutboxMessage,
        BallotClosed(
            ballot_id=poll.id, ballot_kind=PUBLIC_KIND, meeting_id=meeting.id, meeting_number=meeting.number,
            meeting_date=meeting.held_on,
            # No roster: every identity that voted is "present"; members_total is the same count.
            tally=Tally(counts=result.counts, invalid=result.invalid, votes_cast=result.votes_cast,
                        present=result.votes_cast, members_total=result.votes_cast),
            closed_at=poll.closes_at, evaluation_year=poll.evaluation_year, plan_id=poll.plan_id, batch=poll.batch,
            options=[BallotOption(code=o, label=o) for o in poll.options], constituency="public",
        ),
        producer="voting", key=poll.plan_id or f"public-{poll.evaluation_year}",
    )
    return poll


def poll_out(session: Session, poll: PublicPoll, now: dt.datetime | None = None) -> PublicPollOut:
    now = now or utcnow()
    results = None
    if poll.tallied_at is not None:
        results = [OptionCount(code=o, label=o, votes=poll.counts.get(o, 0)) for o in poll.options]
    return PublicPollOut(
        id=poll.id, meeting_id=poll.meeting_id, title=poll.title, evaluation_year=poll.evaluation_year,
        plan_id=poll.plan_id, batch=poll.batch, options=poll.options, max_choices=poll.max_choices,
        opens_at=poll.opens_at, closes_at=poll.closes_at, status=poll_status(poll, now),
        votes_cast=votes_cast(session, poll), results=results, tallied_at=poll.tallied_at,
    )


