from __future__ import annotations

import asyncio
import functools
import gc
import json
import threading
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, FastAPI, Header, Request, Response, status
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from services.voting.ballots import service
from services.voting.ballots.casting import CastIn, CastWriter, record_casts
from services.voting.ballots.schemas import (
    BallotOut,
    BallotVoid,
    ReceiptCheck,
    ResolutionBallotCreate,
    SatisfactionBallotCreate,
    ShowOfHandsRecord,
    VoteCast,
    VoteReceipt,
)
from services.voting.meetings.access import Admin, Caster, Reader, Runner, require_own_token
from services.voting.meetings.service import get_meeting
from services.voting.models import Ballot
from shared.auth import Principal
from shared.caching import NOT_MODIFIED_RESPONSE, ResponseCache, cached_conditional_json
from shared.idempotency import Idempotency, IdempotencyDep
from shared.group_commit import close_app_writer
from shared.problems import Problem, problem_responses
from shared.security import request_audit_context, require_meeting, set_audit_context
from shared.service import SessionDep


_frozen = False


@asynccontextmanager
async def _lifespan(app: FastAPI):
    global _frozen
    if not _frozen:
        # Once per process, when the app starts: what exists now (modules, mappers, schemas,
        # routes: ~170,000 objects) lives as long as the process. Out of the cyclic collector's
        # sight, a full collection no longer walks it: that walk was a ~100 ms pause, landing in
        # a vote now and then (measured: the slowest round of bench/voting_cast.py --profile).
        gc.collect()
        gc.freeze()
        _frozen = True
    yield
    await close_app_writer(app, "cast_writer")  # every cast still queued is written


router = APIRouter(prefix="/v1", tags=["ballots"], lifespan=_lifespan)

# Members' devices poll a ballot during a vote: a private (credentialed) answer,
# revalidated every few seconds, 304 while nothing changed.
BALLOT_MAX_AGE = 2


# How long a request waits for its batch to commit before answering 503.
CAST_WAIT_SECONDS = 30
_writer_lock = threading.Lock()


def cast_writer(app: FastAPI) -> CastWriter:
    """The process's cast writer for this app, made on first use."""
    writer = getattr(app.state, "cast_writer", None)
    if writer is None:
        with _writer_lock:
            writer = getattr(app.state, "cast_writer", None)
            if writer is None:
                cache, counter, board = app.state.ballot_cache, app.state.votes_cast, app.state.board_cache

                def committed(casts) -> None:
                    for cast in casts:
                        counter.labels(cast.kind).inc()
                        cache.invalidate(cast.ballot_id)
                        board.invalidate(cast.token_meeting_id)  # the hall's screen shows the vote next poll

                writer = app.state.cast_writer = CastWriter(
                    app.state.runtime.db,
                    functools.partial(record_casts, seal_secret=app.state.settings.ballot_seal_secret),
                    on_committed=committed,
                )
    return writer


def _seal_secret(request: Request) -> str:
    return request.app.state.settings.ballot_seal_secret


def ballot_cache(request: Request) -> ResponseCache:
    return request.app.state.ballot_cache


def _changed(request: Request, session: Session, ballot_id: str) -> None:
    """The polled status of `ballot_id`, and its meeting's board, are stale once this session commits."""
    ballot_cache(request).invalidate_after_commit(session, ballot_id)
    ballot = session.get(Ballot, ballot_id)  # loaded already: from the identity map
    if ballot is not None:
        request.app.state.board_cache.invalidate_after_commit(session, ballot.meeting_id)


def _ballot_for_run(session: Session, principal: Principal, ballot_id: str):
    """The ballot, locked, for the clerk of its meeting (or an admin key)."""
    ballot = service.get_ballot(session, ballot_id, for_update=True)
    require_meeting(principal, ballot.meeting_id)
    return ballot


@router.post(
    "/meetings/{meeting_id}/ballots", status_code=status.HTTP_201_CREATED, response_model=BallotOut,
    summary="Create a satisfaction ballot (draft)", responses=problem_responses(404, 422),
)
def create_ballot(meeting_id: str, data: SatisfactionBallotCreate, session: SessionDep, idem: IdempotencyDep, _: Admin):
    if (stored := idem.replay(session)) is not None:
        return stored
    meeting = get_meeting(session, meeting_id)
    ballot = service.create_satisfaction_ballot(session, meeting, data)
    body = service.ballot_out(session, ballot)
    idem.record(session, 201, body)
    session.commit()
    return body


@router.post(
    "/meetings/{meeting_id}/resolution-ballots", status_code=status.HTTP_201_CREATED, response_model=BallotOut,
    summary="Create a yes/no/abstain ballot (赞成/反对/弃权) with one or several questions (draft)",
    responses=problem_responses(404, 422),
)
def create_resolution_ballot(meeting_id: str, data: ResolutionBallotCreate, session: SessionDep, idem: IdempotencyDep,
                             _: Admin):
    if (stored := idem.replay(session)) is not None:
        return stored
    meeting = get_meeting(session, meeting_id)
    ballot = service.create_resolution_ballot(session, meeting, data)
    body = service.ballot_out(session, ballot)
    idem.record(session, 201, body)
    session.commit()
    return body


@router.get(
    "/ballots/{ballot_id}", response_model=BallotOut,
    summary="A ballot and its status (turnout while open, results once closed); poll it with If-None-Match",
    responses={**NOT_MODIFIED_RESPONSE, **problem_responses(404)},
)
async def get_ballot(
    ballot_id: str, request: Request, principal: Reader,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match", description="the ETag of the copy held: 304 while it is current")] = None,
) -> Response:
    db = request.app.state.runtime.db

    def compute() -> BallotOut:
        with db.read_sessionmaker() as session:
            return service.ballot_out(session, service.get_ballot(session, ballot_id))

    def own_meeting(body: bytes) -> None:
        if principal.kind == "member":  # a member token reads its own meeting's ballots only
            require_meeting(principal, json.loads(body)["meeting_id"])

    return await cached_conditional_json(request, ballot_cache(request), ballot_id, compute,
                                         max_age=BALLOT_MAX_AGE, public=False, check=own_meeting)


@router.post(
    "/ballots/{ballot_id}/open", response_model=BallotOut,
    summary="Open voting; needs a quorum", responses=problem_responses(404, 409),
)
def open_ballot(ballot_id: str, request: Request, session: SessionDep, principal: Runner) -> BallotOut:
    ballot = service.open_ballot(session, _ballot_for_run(session, principal, ballot_id), seal_secret=_seal_secret(request))
    _changed(request, session, ballot_id)
    session.commit()
    return service.ballot_out(session, ballot)


@router.post(
    "/ballots/{ballot_id}/votes", status_code=status.HTTP_201_CREATED, response_model=VoteReceipt,
    summary="Cast one's own vote, with one's member token for the ballot's meeting",
    description="An API key cannot cast (403 member-token-required), nor a token of another member (403 "
                "not-your-vote) or meeting (403 other-meeting). The 201 comes once the vote is committed. With an "
                "Idempotency-Key a retry gets the same receipt while the ballot is open.",
    responses=problem_responses(403, 404, 409, 422, 503),
)
async def cast_vote(ballot_id: str, data: VoteCast, request: Request, idem: IdempotencyDep, principal: Caster):
    require_own_token(principal, data.member_id)  # before anything else
    if idem.key is not None:  # rare (a client's retry): its own transaction, the key row with the vote
        return await run_in_threadpool(_cast_with_key, request, ballot_id, data, idem, principal)
    cast = CastIn(ballot_id=ballot_id, data=data, principal_name=principal.name, token_member_id=principal.member_id,
                  token_meeting_id=principal.meeting_id, request_id=getattr(request.state, "request_id", None))
    pending = cast_writer(request.app).submit(cast)
    try:
        async with asyncio.timeout(CAST_WAIT_SECONDS):
            recorded = await asyncio.shield(pending)  # a request that stops waiting leaves its cast in the batch
    except TimeoutError:
        raise Problem(503, "vote-outcome-unknown", "Vote pending 投票结果未知",
                      f"the vote was not confirmed within {CAST_WAIT_SECONDS} s; it may still be recorded: a retry "
                      "answers already-voted if it was", headers={"Retry-After": "1"}) from None
    return {"ballot_id": ballot_id, "receipt_code": recorded.receipt_code}


def _cast_with_key(request: Request, ballot_id: str, data: VoteCast, idem: Idempotency, principal: Principal):
    with request.app.state.runtime.db.sessionmaker() as session:
        set_audit_context(session, lambda: request_audit_context(request), pending=True)
        ballot = service.get_ballot(session, ballot_id, key_share=True)
        require_own_token(principal, data.member_id, ballot.meeting_id)
        seal_secret = _seal_secret(request)
        idem = service.cast_idempotency(idem, ballot, seal_secret)
        if (stored := service.replay_cast(session, idem, ballot, seal_secret)) is not None:
            return stored
        code = service.cast_vote(session, ballot, data, seal_secret=seal_secret)
        receipt = {"ballot_id": ballot_id, "receipt_code": code}
        service.record_cast(session, idem, ballot, seal_secret, receipt)
        kind = ballot.kind
        _changed(request, session, ballot_id)
        session.commit()
    request.app.state.votes_cast.labels(kind).inc()
    return receipt


@router.post(
    "/ballots/{ballot_id}/close", response_model=BallotOut,
    summary="Close voting, tally, and announce ballot.closed", responses=problem_responses(404, 409),
)
def close_ballot(ballot_id: str, request: Request, session: SessionDep, principal: Runner) -> BallotOut:
    ballot = _ballot_for_run(session, principal, ballot_id)
    service.close_ballot(session, ballot, seal_secret=_seal_secret(request))
    _changed(request, session, ballot_id)
    session.commit()
    return service.ballot_out(session, ballot)


@router.post(
    "/ballots/{ballot_id}/show-of-hands", response_model=BallotOut,
    summary="Record a show-of-hands result (counts only) when devices fail; closes and announces ballot.closed",
    responses=problem_responses(404, 409, 422),
)
def record_show_of_hands(ballot_id: str, data: ShowOfHandsRecord, request: Request, session: SessionDep,
                         principal: Runner) -> BallotOut:
    ballot = _ballot_for_run(session, principal, ballot_id)
    service.record_show_of_hands(session, ballot, data)
    _changed(request, session, ballot_id)
    session.commit()
    return service.ballot_out(session, ballot)


@router.post(
    "/ballots/{ballot_id}/publish", response_model=BallotOut,
    summary="Publish (announce) a closed ballot's result", responses=problem_responses(404, 409),
)
def publish_ballot(ballot_id: str, request: Request, session: SessionDep, _: Admin) -> BallotOut:
    ballot = service.publish_ballot(session, service.get_ballot(session, ballot_id, for_update=True))
    _changed(request, session, ballot_id)
    session.commit()
    return service.ballot_out(session, ballot)


@router.post(
    "/ballots/{ballot_id}/void", response_model=BallotOut,
    summary="Void a ballot that has no result yet, with a reason; it stays on record",
    responses=problem_responses(404, 409, 422),
)
def void_ballot(ballot_id: str, data: BallotVoid, request: Request, session: SessionDep, _: Admin) -> BallotOut:
    ballot = service.void_ballot(session, service.get_ballot(session, ballot_id, for_update=True), data.reason)
    _changed(request, session, ballot_id)
    session.commit()
    return service.ballot_out(session, ballot)


@router.post(
    "/ballots/{ballot_id}/rerun", status_code=status.HTTP_201_CREATED, response_model=BallotOut,
    summary="Create the draft ballot that re-runs a voided one", responses=problem_responses(404, 409),
)
def rerun_ballot(ballot_id: str, request: Request, session: SessionDep, idem: IdempotencyDep, _: Admin):
    if (stored := idem.replay(session)) is not None:
        return stored
    rerun = service.rerun_ballot(session, service.get_ballot(session, ballot_id, for_update=True))
    body = service.ballot_out(session, rerun)
    idem.record(session, 201, body)
    _changed(request, session, ballot_id)  # the voided ballot now names its re-run
    session.commit()
    return body


@router.get(
    "/ballots/{ballot_id}/receipts/{receipt_code}", response_model=ReceiptCheck,
    summary="Confirm that a vote with this receipt was counted", responses=problem_responses(404),
)
def check_receipt(ballot_id: str, receipt_code: str, session: SessionDep, principal: Reader) -> ReceiptCheck:
    ballot = service.get_ballot(session, ballot_id)
    require_meeting(principal, ballot.meeting_id)
    return ReceiptCheck(ballot_id=ballot_id, counted=service.receipt_counted(session, ballot, receipt_code))
