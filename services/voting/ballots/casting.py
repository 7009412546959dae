"""Group commit for members' votes: 60 members press the button together.

A cast needs no database work while its request is handled: the member token
says who casts, the body what. The request puts the cast on this process's
queue and waits; one writer thread takes every cast waiting (up to
`max_batch`) and writes them in one transaction:

- each ballot read FOR KEY SHARE (as a single cast did: a close's FOR UPDATE
  waits for the batch, and a batch after the close sees it closed);
- the roster (or poll voters) of the batch's members in one query; the same
  refusals, in the same order, as a cast on its own;
- participations inserted ON CONFLICT DO NOTHING: the unique (ballot, member)
  row still decides a race, per cast, without failing the batch;
- the sealed votes in random order; one audit entry per accepted cast, naming
  the member, as a request's own entry would.

Only after the commit is each request answered (201 with its receipt, or its
refusal); a batch that fails is rolled back whole and every cast in it gets 503
`vote-not-recorded` (nothing recorded: a retry is safe). Why: each commit on
Postgres waits for its WAL flush (about 2.4 ms here); 60 casts in one batch
are one flush.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog
from sqlalchemy import select, text, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.voting.ballots.schemas import VoteCast
from services.voting.ballots.service import (
    POLL_KIND,
    _checked_content,
    _data_key,
    _receipt_hash,
    _seal_content,
    already_voted,
    not_a_member,
    not_open,
    not_present,
)
from services.voting.models import AuditEntry, Ballot, BallotParticipation, BallotVote, PollVoter, RosterMember
from shared.security import audit as audit_chain
from shared.db import Database, new_id
from shared.web.group_commit import GroupCommitWriter, Refusals, Write
from shared.messaging.events import utcnow
from services.voting.refusals import RETRY_AFTER, queue_full, writer_stopped
from shared.web.problems import Problem, not_found
from shared.security.access import require_member

log = structlog.get_logger(__name__)

CAST_ACTION = "POST /v1/ballots/{ballot_id}/votes"
@dataclass
class CastIn:
    """One member's cast, as its request handed it over."""

    ballot_id: str
    data: VoteCast
    principal_name: str
    token_member_id: str
    token_meeting_id: str
    request_id: str | None = None
    receipt_code: str | None = None  # set when recorded
    kind: str | None = None  # the ballot's kind, for the metric


def not_recorded() -> Problem:
    return Problem(503, "vote-not-recorded", "Vote not recorded 投票未记录，请重试",
                   "the vote could not be written and nothing was recorded; retry", headers=RETRY_AFTER)


def _insert(session: Session):
    return (postgresql if session.get_bind().dialect.name == "postgresql" else sqlite).insert


# On Postgres every statement of a batch has one fixed text over one JSON parameter,
# whatever the batch's size: psycopg prepares each once per connection (a multi-row
# VALUES or an IN list of a new length is a new statement to render, parse and plan),
# and one json.dumps replaces the quoting of every element of text arrays.
_PG_ROSTER = text(
    "SELECT r.meeting_id, r.member_id, r.present FROM roster_members AS r "
    "JOIN json_to_recordset(CAST(:wanted AS json)) AS w(meeting_id varchar, member_id varchar) "
    "ON r.meeting_id = w.meeting_id AND r.member_id = w.member_id")
_PG_PARTICIPATIONS = text(
    "INSERT INTO ballot_participations (id, ballot_id, member_id, voted_at) "
    "SELECT id, ballot_id, member_id, voted_at FROM json_to_recordset(CAST(:rows AS json)) "
    "AS p(id varchar, ballot_id varchar, member_id varchar, voted_at timestamptz) "
    "ON CONFLICT (ballot_id, member_id) DO NOTHING RETURNING ballot_id, member_id")
_PG_VOTES = text(
    "INSERT INTO ballot_votes (id, ballot_id, sealed, receipt_hash) "
    "SELECT id, ballot_id, sealed, receipt_hash FROM json_to_recordset(CAST(:rows AS json)) "
    "AS v(id varchar, ballot_id varchar, sealed text, receipt_hash varchar)")
_PG_AUDIT = text(
    "INSERT INTO audit_log (at, actor, action, subject, detail) "
    "SELECT at, actor, action, subject, detail FROM json_to_recordset(CAST(:rows AS json)) "
    "AS a(at timestamptz, actor varchar, action varchar, subject varchar, detail text)")


def _json_rows(rows: list[dict]) -> str:
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":"))


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def record_casts(session: Session, casts: Sequence[CastIn], *, seal_secret: str) -> list[Problem | None]:
    """Write a batch of casts in the session's transaction; per cast None (recorded,
    its `receipt_code` set) or the refusal it gets. The caller commits."""
    outcomes: list[Problem | None] = [None] * len(casts)
    ballots = {b.id: b for b in session.scalars(
        select(Ballot).where(Ballot.id.in_(sorted({c.ballot_id for c in casts}))).order_by(Ballot.id)
        .with_for_update(read=True, key_share=True))}

    def refuse(i: int, problem: Problem) -> None:
        outcomes[i] = problem

    # Who is on which roster, for the members of this batch only.
    wanted = [(i, c, ballots.get(c.ballot_id)) for i, c in enumerate(casts)]
    meeting_members = {(b.meeting_id, c.data.member_id) for _, c, b in wanted
                       if b is not None and b.kind != POLL_KIND}
    poll_members = {(b.id, c.data.member_id) for _, c, b in wanted if b is not None and b.kind == POLL_KIND}
    present: dict[tuple[str, str], bool] = {}
    if meeting_members and _postgres(session):
        present = {(m, member): p for m, member, p in session.execute(_PG_ROSTER, {"wanted": _json_rows(
            [{"meeting_id": m, "member_id": member} for m, member in sorted(meeting_members)])})}
    elif meeting_members:
        present = {(r.meeting_id, r.member_id): r.present for r in session.execute(
            select(RosterMember.meeting_id, RosterMember.member_id, RosterMember.present)
            .where(tuple_(RosterMember.meeting_id, RosterMember.member_id).in_(sorted(meeting_members))))}
    voters: set[tuple[str, str]] = set()
    if poll_members:
        voters = set(session.execute(select(PollVoter.ballot_id, PollVoter.voter_id)
                                     .where(tuple_(PollVoter.ballot_id, PollVoter.voter_id).in_(sorted(poll_members)))).all())

    contents: dict[int, dict] = {}
    first: dict[tuple[str, str], int] = {}
    for i, cast, ballot in wanted:
        member_id = cast.data.member_id
        try:
            if ballot is None:
                raise not_found("ballot", cast.ballot_id)
            require_member(_TokenView(cast), member_id, ballot.meeting_id)
            if ballot.status != "open":
                raise not_open(ballot)
            if ballot.kind == POLL_KIND:
                if (ballot.id, member_id) not in voters:
                    raise not_a_member(ballot, member_id)
            else:
                on_roster = present.get((ballot.meeting_id, member_id))
                if on_roster is None:
                    raise not_a_member(ballot, member_id)
                if not on_roster:
                    raise not_present(ballot, member_id)
            contents[i] = _checked_content(session, ballot, cast.data)
            if (ballot.id, member_id) in first:
                raise already_voted(ballot, member_id)
            first[(ballot.id, member_id)] = i
        except Problem as problem:
            refuse(i, problem)
    if not first:
        return outcomes

    # Core statements on the session's connection: no ORM bookkeeping for rows nobody loads.
    connection = session.connection()
    now = utcnow()
    postgres = _postgres(session)
    if postgres:
        voted_at = now.isoformat()
        inserted = set(connection.execute(_PG_PARTICIPATIONS, {"rows": _json_rows(
            [{"id": new_id(), "ballot_id": b, "member_id": m, "voted_at": voted_at} for b, m in first])}).all())
    else:
        participations = BallotParticipation.__table__
        # Many parameter sets to one cached statement (SQLAlchemy sends them as one multi-row INSERT).
        inserted = set(connection.execute(
            _insert(session)(participations)
            .on_conflict_do_nothing(index_elements=["ballot_id", "member_id"])
            .returning(participations.c.ballot_id, participations.c.member_id),
            [{"id": new_id(), "ballot_id": b, "member_id": m, "voted_at": now} for b, m in first]).all())
    accepted = []
    for key, i in first.items():
        if key in inserted:
            accepted.append(i)
        else:  # another process's cast got there first
            refuse(i, already_voted(ballots[key[0]], key[1]))
    if not accepted:
        return outcomes

    keys = {b: _data_key(ballots[b], seal_secret) for b in {casts[i].ballot_id for i in accepted}}
    rows = []
    for i in accepted:
        cast = casts[i]
        ballot = ballots[cast.ballot_id]
        cast.receipt_code = secrets.token_urlsafe(12)
        cast.kind = ballot.kind
        rows.append({"id": new_id(), "ballot_id": ballot.id, "sealed": _seal_content(ballot, keys[ballot.id], contents[i]),
                     "receipt_hash": _receipt_hash(cast.receipt_code)})
    # The sealed rows in an order unrelated to the participations' (and the audit's).
    secrets.SystemRandom().shuffle(rows)
    if postgres:
        connection.execute(_PG_VOTES, {"rows": _json_rows(rows)})
    else:
        connection.execute(BallotVote.__table__.insert(), rows)
    _audit(session, [casts[i] for i in accepted])
    return outcomes


@dataclass(frozen=True)
class _TokenView:
    """What `require_member` reads of a principal."""

    cast: CastIn
    kind: str = "member"

    @property
    def member_id(self) -> str:
        return self.cast.token_member_id

    @property
    def meeting_id(self) -> str:
        return self.cast.token_meeting_id


def _audit(session: Session, casts: Sequence[CastIn]) -> None:
    """One entry per cast, as the request's own commit would write: the member,
    the route, the ballot; never what was chosen. Inserted in one statement;
    the service's linker seals them into the chain after the commit."""
    rows = []
    for cast in casts:
        fields = _audit_fields(cast)
        rows.append({"at": utcnow(), **fields, "detail": audit_chain.canonical_json(fields["detail"])})
    if _postgres(session):
        session.connection().execute(_PG_AUDIT, {"rows": _json_rows([{**r, "at": r["at"].isoformat()} for r in rows])})
    else:
        session.connection().execute(AuditEntry.__table__.insert(), rows)


def _audit_fields(cast: CastIn) -> dict:
    detail = {"path_params": {"ballot_id": cast.ballot_id}}
    if cast.request_id:
        detail["request_id"] = cast.request_id
    return dict(actor=cast.principal_name, action=CAST_ACTION, subject=f"/v1/ballots/{cast.ballot_id}/votes", detail=detail)


CAST_REFUSALS = Refusals(not_recorded=not_recorded, queue_full=queue_full, stopped=writer_stopped)


class CastWriter(GroupCommitWriter[CastIn]):
    """One writer thread per process; requests on the event loop await their cast's future
    (the cast, recorded, with its receipt code)."""

    def __init__(self, db: Database, write: Write, *, max_batch: int = 200, max_queue: int = 10_000,
                 on_committed: Callable[[Sequence[CastIn]], None] | None = None) -> None:
        super().__init__(db.sessionmaker, write, CAST_REFUSALS, name="cast-writer", max_batch=max_batch,
                         max_queue=max_queue, on_committed=on_committed)

    def submit(self, cast: CastIn) -> asyncio.Future:  # type: ignore[override]
        return self.submit_async(cast)
