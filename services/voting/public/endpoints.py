from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from services.voting.domain.public import FixedWindowLimiter, identity_hash
from services.voting.public import service
from services.voting.public.schemas import (
    BallotPaper,
    IdentityIn,
    PublicPollCreate,
    PublicPollOut,
    PublicPollSchedule,
    PublicVoteAccepted,
    PublicVoteCast,
    Turnout,
)
from shared.caching import NOT_MODIFIED_RESPONSE, conditional_json
from shared.events import utcnow
from shared.problems import Problem, problem_response, problem_responses
from shared.service import SessionDep

router = APIRouter(prefix="/v1/public-polls", tags=["public online vote"])


def _limiters(request: Request) -> tuple[FixedWindowLimiter, FixedWindowLimiter]:
    state = request.app.state
    if not hasattr(state, "public_vote_limiters"):
        settings = state.settings
        state.public_vote_limiters = (FixedWindowLimiter(settings.public_vote_identity_limit),
                                      FixedWindowLimiter(settings.public_vote_ip_limit))
    return state.public_vote_limiters


def _rate_limited(request: Request, voter_hash: str) -> Response | None:
    by_identity, by_ip = _limiters(request)
    ip = request.client.host if request.client else "unknown"
    for limiter, key, what in ((by_ip, ip, "address"), (by_identity, voter_hash, "identity")):
        wait = limiter.hit(key)
        if wait is not None:
            problem = Problem(429, "rate-limited", "Too many requests 请求过于频繁",
                              f"too many requests from this {what}; try again later", limit=limiter.limit, per_seconds=int(limiter.window))
            return problem_response(problem, request, headers={"Retry-After": str(max(1, int(wait + 0.999)))})
    return None


def _hash(request: Request, identity: str) -> str:
    return identity_hash(request.app.state.settings.identity_hash_key, identity)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=PublicPollOut,
             summary="Schedule a public online vote", responses=problem_responses(404, 422))
def create_poll(data: PublicPollCreate, session: SessionDep) -> PublicPollOut:
    poll = service.create_poll(session, data)
    session.commit()
    return service.poll_out(session, poll)


@router.get("/{poll_id}", response_model=PublicPollOut, summary="The poll; results only once tallied",
            responses=problem_responses(404))
def get_poll(poll_id: str, session: SessionDep) -> PublicPollOut:
    return service.poll_out(session, service.get_poll(session, poll_id))


@router.patch("/{poll_id}/schedule", response_model=PublicPollOut, summary="Move the scheduled open or close",
              responses=problem_responses(404, 409, 422))
def reschedule(poll_id: str, data: PublicPollSchedule, session: SessionDep) -> PublicPollOut:
    poll = service.reschedule(session, service.get_poll(session, poll_id, lock="update"), data)
    session.commit()
    return service.poll_out(session, poll)


@router.get("/{poll_id}/turnout", response_model=Turnout, summary="Live turnout (conditional GET: ETag / 304)",
            responses={**problem_responses(404), **NOT_MODIFIED_RESPONSE})
def get_turnout(poll_id: str, request: Request, session: SessionDep) -> Response:
    poll = service.get_poll(session, poll_id)
    return conditional_json(request, service.turnout(session, poll, utcnow()), max_age=2)


@router.post("/{poll_id}/ballot-papers", response_model=BallotPaper,
             summary="The options in this voter's own random order", responses=problem_responses(404, 409, 422, 429))
def ballot_paper(poll_id: str, data: IdentityIn, request: Request, session: SessionDep):
    voter_hash = _hash(request, data.identity)
    limited = _rate_limited(request, voter_hash)
    if limited is not None:
        return limited
    poll = service.get_poll(session, poll_id)
    return service.ballot_paper(poll, voter_hash)


@router.post("/{poll_id}/votes", status_code=status.HTTP_201_CREATED, response_model=PublicVoteAccepted,
             summary="Cast one identity's vote", responses=problem_responses(404, 409, 422, 429))
def cast_vote(poll_id: str, data: PublicVoteCast, request: Request, session: SessionDep):
    voter_hash = _hash(request, data.identity)
    limited = _rate_limited(request, voter_hash)
    if limited is not None:
        return limited
    poll = service.get_poll(session, poll_id, lock="key_share")
    service.cast(session, poll, voter_hash, data.choices, utcnow())
    session.commit()
    request.app.state.votes_cast.labels("public_vote").inc()
    return PublicVoteAccepted(poll_id=poll_id)


@router.post("/{poll_id}/tally", response_model=PublicPollOut,
             summary="After the close: count, publish the result, announce ballot.closed", responses=problem_responses(404, 409))
def tally(poll_id: str, session: SessionDep) -> PublicPollOut:
    now = utcnow()
    poll = service.tally(session, service.get_poll(session, poll_id, lock="update"), now)
    session.commit()
    return service.poll_out(session, poll, now)
