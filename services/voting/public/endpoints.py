"""Public online vote routes.

Administration (create, move the schedule, tally) needs `voting:admin`; reading a
poll and its turnout need no credential; a ballot paper and a vote need a voting
pass (services/voting/verification: SMS code or government ID token), 401
`verification-required` without a valid one. Public reads are limited per client
address (`public_read`); a vote per client address (`public_vote_ip`) and per
identity (`public_vote_identity`, keyed by the identity's keyed hash, never the
identity itself), across replicas.

A vote is checked here (the pass, limits, choices against the poll's shape,
cached in the process: options and max_choices never change) and handed to the
process's group-commit writer (`writer.VoteWriter`); the 201 is sent only after
the batch holding it has committed.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request, Response, status
from starlette.concurrency import run_in_threadpool

from services.voting.models import PublicPoll
from services.voting.public import service
from services.voting.public.schemas import (
    BallotPaper,
    PassIn,
    PublicPollCreate,
    PublicPollOut,
    PublicPollSchedule,
    PublicVoteAccepted,
    PublicVoteCast,
    Turnout,
)
from services.voting.public.writer import VoteWriter
from services.voting.verification.passes import PassRefused, verification_required
from services.voting.verification.service import verification
from shared.security.credentials import Principal
from shared.web.caching import NOT_MODIFIED_RESPONSE, ResponseCache, cached_conditional_json
from shared.messaging.events import utcnow
from shared.security.idempotency import IdempotencyDep
from shared.web.group_commit import app_part, close_app_writer
from shared.web.problems import Problem, not_found, problem_responses
from shared.web.ratelimit import Verdict, client_address, enforce_async, rate_limit
from shared.security.access import require
from shared.ops.runtime import SessionDep


@asynccontextmanager
async def _lifespan(app: FastAPI):
    yield
    await close_app_writer(app, "public_vote_writer")  # every vote still queued is written


router = APIRouter(prefix="/v1/public-polls", tags=["public online vote"], lifespan=_lifespan)

Admin = Annotated[Principal, Depends(require("voting:admin"))]
PUBLIC_READ = [Depends(rate_limit("public_read"))]

_SHAPES_MAX = 10_000


def vote_writer(app: FastAPI) -> VoteWriter:
    """The process's vote writer for this app, started on first use."""

    def make() -> VoteWriter:
        settings = app.state.settings
        counter = getattr(app.state, "votes_cast", None)
        cache = turnout_cache(app)

        def recorded(by_poll: dict[str, int]) -> None:
            for poll_id in by_poll:
                cache.invalidate(poll_id)
            if counter is not None:
                counter.labels("public_vote").inc(sum(by_poll.values()))

        return VoteWriter(app.state.runtime.db, max_batch=settings.public_vote_batch_max,
                          max_queue=settings.public_vote_queue_max, on_recorded=recorded)

    return app_part(app, "public_vote_writer", make)


def turnout_cache(app: FastAPI) -> ResponseCache:
    """Turnout answers per poll, at most a second old: a burst of polls costs one count.
    Dropped when a batch of votes, a new schedule or the tally commits."""
    cache = getattr(app.state, "public_turnout_cache", None)
    if cache is None:
        cache = app.state.public_turnout_cache = ResponseCache(ttl=1.0)
    return cache


def _load_shape(app: FastAPI, poll_id: str) -> service.PollShape:
    with app.state.runtime.db.read_sessionmaker() as session:
        poll = session.get(PublicPoll, poll_id)
        if poll is None:
            raise not_found("public poll", poll_id)
        return service.PollShape.of(poll)


async def poll_shape(app: FastAPI, poll_id: str) -> service.PollShape:
    shapes: dict[str, service.PollShape] | None = getattr(app.state, "public_poll_shapes", None)
    if shapes is None:
        shapes = app.state.public_poll_shapes = {}
    shape = shapes.get(poll_id)
    if shape is None:
        shape = await run_in_threadpool(_load_shape, app, poll_id)
        if len(shapes) >= _SHAPES_MAX:
            shapes.clear()
        shapes[poll_id] = shape
    return shape


def _voter_hash(request: Request, poll_id: str, token: str | None, now) -> str:
    """The keyed hash of the identity a genuine, unexpired pass for this poll was issued to."""
    if token is None:
        raise verification_required("missing", "no voting pass was sent")
    try:
        return verification(request.app).sealer.open(token, poll_id=poll_id, now=now).voter_hash
    except PassRefused as refused:
        raise verification_required(refused.reason, refused.detail) from None


async def _vote_limits(request: Request, voter_hash: str) -> Verdict:
    # Both counted at once: in the database they join the same batch.
    by_ip, by_identity = await asyncio.gather(enforce_async(request, None, "public_vote_ip", client_address(request)),
                                              enforce_async(request, None, "public_vote_identity", voter_hash))
    return min(by_ip, by_identity, key=lambda v: (v.remaining, -v.reset_after))


# The vote first: routes are matched in order.
@router.post("/{poll_id}/votes", status_code=status.HTTP_201_CREATED, response_model=PublicVoteAccepted,
             summary="Cast one verified identity's vote with its voting pass (201 once it is committed)",
             responses=problem_responses(401, 404, 409, 422, 429, 503))
async def cast_vote(poll_id: str, data: PublicVoteCast, request: Request) -> Response:
    """A citizen's phone casts the public online vote (网上社会投票) with the voting pass just obtained from POST
    …/verifications, while the poll is open: one vote per verified identity, which is never stored (only its keyed
    hash). The 201 comes once the batch holding the vote has committed. No credential; limited per client address and
    per identity. Causes no event (the tally does). Refusals: `verification-required` (401, no, expired or foreign
    pass), `poll-not-open` (409), `identity-already-voted` (409), `duplicate-choices`, `unknown-option`,
    `too-many-choices` (422), `rate-limited` (429), `vote-outcome-unknown` (503: retry; a vote already recorded
    answers identity-already-voted)."""
    app = request.app
    cast_at = utcnow()
    voter_hash = _voter_hash(request, poll_id, data.pass_, cast_at)
    verdict = await _vote_limits(request, voter_hash)
    shape = await poll_shape(app, poll_id)
    service.check_choices(shape, data.choices)
    recorded = vote_writer(app).submit_async(service.VoteIn(poll_id, voter_hash, list(data.choices), cast_at))
    wait = app.state.settings.public_vote_wait_seconds
    try:
        async with asyncio.timeout(wait):
            await recorded  # a request that stops waiting leaves its vote in the batch
    except TimeoutError:
        raise Problem(503, "vote-outcome-unknown", "Vote pending 投票结果未知，请重试",
                      f"the vote was not confirmed within {wait:g} s; it may still be recorded: a retry answers "
                      "identity-already-voted if it was", headers={"Retry-After": "1"}) from None
    # Built here rather than by FastAPI from the model: the hottest route's answer is always this.
    body = json.dumps({"poll_id": poll_id, "accepted": True}, separators=(",", ":")).encode()
    return Response(body, status_code=status.HTTP_201_CREATED, media_type="application/json", headers=verdict.headers())


@router.post("", status_code=status.HTTP_201_CREATED, response_model=PublicPollOut,
             summary="Schedule a public online vote", responses=problem_responses(404, 409, 422))
def create_poll(data: PublicPollCreate, session: SessionDep, principal: Admin, idem: IdempotencyDep):
    """The committee's office (`voting:admin`) schedules the public online vote on the candidate departments: options,
    how many a citizen may choose, when it opens and closes. Takes an `Idempotency-Key`. Causes no event. Refusals:
    `not-found` (404, the meeting), `duplicate-options` (422), `inconsistent-request` (422, closes_at not after
    opens_at, or max_choices above the options), `idempotency-key-reused` (422)."""
    if (stored := idem.replay(session)) is not None:
        return stored
    poll = service.create_poll(session, data)
    body = service.poll_out(session, poll)
    idem.record(session, 201, body)
    session.commit()
    return body


@router.get("/{poll_id}", response_model=PublicPollOut, summary="The poll; results only once tallied",
            responses=problem_responses(404), dependencies=PUBLIC_READ)
def get_poll(poll_id: str, session: SessionDep) -> PublicPollOut:
    """The portal and citizens (no credential, `public_read` limit) read the vote: options, limits, schedule, status and
    turnout, and the results once tallied. Changes nothing. Refusals: `not-found` (404), `rate-limited` (429)."""
    return service.poll_out(session, service.get_poll(session, poll_id))


@router.patch("/{poll_id}/schedule", response_model=PublicPollOut, summary="Move the scheduled open or close",
              responses=problem_responses(404, 409, 422))
def reschedule(poll_id: str, data: PublicPollSchedule, request: Request, session: SessionDep,
               principal: Admin) -> PublicPollOut:
    """The committee's office (`voting:admin`) moves the scheduled open or close before the tally, e.g. closes it now or
    extends it. Causes no event. Refusals: `poll-tallied` (409), `inconsistent-request` (422, the close would not be
    after the open), `not-found` (404)."""
    poll = service.reschedule(session, service.get_poll(session, poll_id, lock="update"), data)
    turnout_cache(request.app).invalidate_after_commit(session, poll_id)
    session.commit()
    return service.poll_out(session, poll)


@router.get("/{poll_id}/turnout", response_model=Turnout, summary="Live turnout (conditional GET: ETag / 304)",
            responses={**problem_responses(404), **NOT_MODIFIED_RESPONSE}, dependencies=PUBLIC_READ)
async def get_turnout(poll_id: str, request: Request) -> Response:
    """The portal polls the live turnout (no credential, `public_read` limit): status and votes so far, at most a second
    old; ETag, 304 on If-None-Match. Changes nothing. Refusals: `not-found` (404), `rate-limited` (429)."""
    db = request.app.state.runtime.db

    def compute() -> Turnout:
        with db.read_sessionmaker() as session:
            return service.turnout(session, service.get_poll(session, poll_id), utcnow())

    # The rate-limit headers ride along (shared.web.caching adds what the limit dependency counted).
    return await cached_conditional_json(request, turnout_cache(request.app), poll_id, compute, max_age=2)


@router.post("/{poll_id}/ballot-papers", response_model=BallotPaper,
             summary="The options in this voter's own random order (needs the voting pass)",
             responses=problem_responses(401, 404, 422), dependencies=PUBLIC_READ)
async def ballot_paper(poll_id: str, data: PassIn, request: Request) -> BallotPaper:
    """A citizen's phone, holding a voting pass, gets the options in that voter's own random order (the same each time,
    so no position favours a department). Changes nothing. Refusals: `verification-required` (401), `not-found` (404),
    `rate-limited` (429)."""
    voter_hash = _voter_hash(request, poll_id, data.pass_, utcnow())
    return service.ballot_paper(await poll_shape(request.app, poll_id), voter_hash)


@router.post("/{poll_id}/tally", response_model=PublicPollOut,
             summary="After the close: count, publish the result, announce ballot.closed", responses=problem_responses(404, 409))
def tally(poll_id: str, request: Request, session: SessionDep, principal: Admin) -> PublicPollOut:
    """The committee's office (`voting:admin`) counts the vote after its scheduled close and publishes the result. Causes
    `ballot.closed` (ballot_kind `public_vote`, constituency `public`), which scoring counts into the composite
    ranking. Refusals: `poll-not-closed` (409, still scheduled or open), `poll-tallied` (409, already), `not-found`
    (404)."""
    now = utcnow()
    poll = service.tally(session, service.get_poll(session, poll_id, lock="update"), now)
    turnout_cache(request.app).invalidate_after_commit(session, poll_id)
    session.commit()
    return service.poll_out(session, poll, now)
