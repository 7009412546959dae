"""Public online vote (网上社会投票): scheduled window, one vote per verified identity
(stored as a keyed hash only, enforced by a unique constraint), up to N choices,
live turnout, results only after the close.

Votes are written in batches (`record_votes`, driven by `writer.VoteWriter`): one
transaction for many votes, the unique constraint still deciding duplicates."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, insert, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from services.voting.ballots.schemas import OptionCount
from services.voting.domain.public import option_order
from services.voting.domain.selection import count_marks
from services.voting.meetings.service import get_meeting
from services.voting.models import AuditEntry, OutboxMessage, PublicPoll, PublicVote, PublicVoter
from services.voting.public.schemas import BallotPaper, PublicPollCreate, PublicPollOut, PublicPollSchedule, Turnout
from shared.security import audit
from shared.db import new_id
from shared.messaging.events import BallotClosed, BallotOption, Tally, utcnow
from shared.messaging.outbox import publish
from shared.web.problems import Problem, not_found

PUBLIC_KIND = "public_vote"
VOTE_ROUTE = "POST /v1/public-polls/{poll_id}/votes"


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
    if len(set(data.options)) != len(data.options):
        repeated = sorted({o for o in data.options if data.options.count(o) > 1})
        raise Problem(422, "duplicate-options", "Duplicate options 选项重复",
                      f"each option may appear once: {', '.join(repeated)}", options=repeated)
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
        raise Problem(422, "inconsistent-request", "Inconsistent request 请求字段相互矛盾", "closes_at must be after opens_at",
                      errors=[{"field": "closes_at", "message": "must be after opens_at"}])
    poll.opens_at, poll.closes_at = opens_at, closes_at
    return poll


def not_open(poll: PublicPoll, status: str) -> Problem:
    return Problem(409, "poll-not-open", "Poll not open 投票未开始或已结束",
                   f"public poll {poll.id} is {status}", poll_status=status,
                   opens_at=poll.opens_at, closes_at=poll.closes_at)


@dataclass(frozen=True)
class PollShape:
    """What never changes about a poll once created: enough to check a vote's choices
    (and hand out ballot papers) without reading the database."""

    id: str
    options: tuple[str, ...]
    max_choices: int

    @classmethod
    def of(cls, poll: PublicPoll) -> PollShape:
        return cls(poll.id, tuple(poll.options), poll.max_choices)


def ballot_paper(poll: PollShape | PublicPoll, voter_hash: str) -> BallotPaper:
    return BallotPaper(poll_id=poll.id, max_choices=poll.max_choices,
                       options=option_order(list(poll.options), poll_id=poll.id, voter_hash=voter_hash))


def check_choices(poll: PollShape, choices: Sequence[str]) -> None:
    """Refuse choices that no ballot could hold; changes nothing."""
    if len(set(choices)) != len(choices):
        repeated = sorted({c for c in choices if choices.count(c) > 1})
        raise Problem(422, "duplicate-choices", "Option chosen twice 同一选项重复选择",
                      f"an option is chosen twice: {', '.join(repeated)}", choices=repeated)
    unknown = [c for c in choices if c not in poll.options]
    if unknown:
        raise Problem(422, "unknown-option", "Unknown option 选项不存在", f"not an option: {', '.join(unknown)}")
    if len(choices) > poll.max_choices:
        raise Problem(422, "too-many-choices", "Too many choices 选择超过限额",
                      f"{len(choices)} chosen; at most {poll.max_choices}", max_choices=poll.max_choices)


@dataclass
class VoteIn:
    """One validated vote waiting to be written: its choices were checked against the
    poll's shape; whether the poll was open when it arrived and whether the identity
    has voted are decided when its batch is written."""

    poll_id: str
    voter_hash: str
    choices: list[str]
    cast_at: dt.datetime


def already_voted(poll_id: str) -> Problem:
    return Problem(409, "identity-already-voted", "Already voted 该身份已投票",
                   f"this identity has already voted in public poll {poll_id}")


# On Postgres each batch is two statements of fixed text over arrays (psycopg prepares
# them once per connection); elsewhere SQLAlchemy's multi-row INSERT.
_PG_INSERT_VOTERS = text(
    "INSERT INTO public_voters (id, poll_id, identity_hash) "
    "SELECT * FROM unnest(CAST(:ids AS varchar[]), CAST(:polls AS varchar[]), CAST(:hashes AS varchar[])) "
    "ON CONFLICT (poll_id, identity_hash) DO NOTHING RETURNING poll_id, identity_hash"
)
_PG_INSERT_VOTES = text(
    "INSERT INTO public_votes (id, poll_id, choices) "
    "SELECT id, poll_id, CAST(choices AS json) "
    "FROM unnest(CAST(:ids AS varchar[]), CAST(:polls AS varchar[]), CAST(:choices AS text[])) AS v(id, poll_id, choices)"
)


def _insert_voters(session: Session, rows: list[dict]) -> set[tuple[str, str]]:
    """Insert voter rows, skipping identities that have voted; the (poll, identity)
    pairs that were new."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        result = session.execute(_PG_INSERT_VOTERS, {
            "ids": [r["id"] for r in rows], "polls": [r["poll_id"] for r in rows],
            "hashes": [r["identity_hash"] for r in rows]})
        return {(poll_id, voter_hash) for poll_id, voter_hash in result}
    table = PublicVoter.__table__
    stmt = sqlite.insert(table).on_conflict_do_nothing(index_elements=[table.c.poll_id, table.c.identity_hash])
    stmt = stmt.returning(table.c.poll_id, table.c.identity_hash)
    return {(poll_id, voter_hash) for poll_id, voter_hash in session.execute(stmt, rows)}


def _insert_votes(session: Session, rows: list[dict]) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_PG_INSERT_VOTES, {
            "ids": [r["id"] for r in rows], "polls": [r["poll_id"] for r in rows],
            "choices": [json.dumps(r["choices"]) for r in rows]})
    else:
        session.execute(insert(PublicVote.__table__), rows)


def record_votes(session: Session, votes: Sequence[VoteIn]) -> list[Problem | None]:
    """Write a batch of votes in the session's transaction; per vote, None when it
    is recorded or the refusal it gets. The caller commits; until then nothing is
    accepted. One audit entry names the batch's vote rows (no identities, no choices).

    Each poll is read FOR KEY SHARE, as a single vote did: the tally's FOR UPDATE
    waits for the batch, and a batch after the tally sees the poll tallied."""
    outcomes: list[Problem | None] = [None] * len(votes)
    poll_ids = sorted({v.poll_id for v in votes})
    polls = {p.id: p for p in session.scalars(
        select(PublicPoll).where(PublicPoll.id.in_(poll_ids)).order_by(PublicPoll.id)
        .with_for_update(read=True, key_share=True))}
    # Refuse what arrived outside the window, then all but the first vote of an identity.
    first: dict[tuple[str, str], int] = {}
    for i, vote in enumerate(votes):
        poll = polls.get(vote.poll_id)
        if poll is None:
            outcomes[i] = not_found("public poll", vote.poll_id)
            continue
        status = poll_status(poll, vote.cast_at)
        if status != "open":
            outcomes[i] = not_open(poll, status)
        elif (vote.poll_id, vote.voter_hash) in first:
            outcomes[i] = already_voted(vote.poll_id)
        else:
            first[(vote.poll_id, vote.voter_hash)] = i
    if not first:
        return outcomes
    new = _insert_voters(session, [{"id": new_id(), "poll_id": poll_id, "identity_hash": voter_hash}
                                   for poll_id, voter_hash in first])
    accepted: list[int] = []
    for key, i in first.items():
        if key in new:
            accepted.append(i)
        else:
            outcomes[i] = already_voted(key[0])
    if not accepted:
        return outcomes
    # Vote rows in an order unrelated to the voter rows': nothing links a choice to an identity.
    random.SystemRandom().shuffle(accepted)
    rows = [{"id": new_id(), "poll_id": votes[i].poll_id, "choices": list(votes[i].choices)} for i in accepted]
    _insert_votes(session, rows)
    by_poll: dict[str, list[str]] = {}
    for row in rows:
        by_poll.setdefault(row["poll_id"], []).append(row["id"])
    audit.append(
        session, AuditEntry, actor="public", action=VOTE_ROUTE,
        subject=f"/v1/public-polls/{next(iter(by_poll))}/votes" if len(by_poll) == 1 else "/v1/public-polls",
        detail={"batch": {poll_id: {"accepted": len(ids), "vote_ids": sorted(ids)} for poll_id, ids in sorted(by_poll.items())}},
    )
    return outcomes


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


