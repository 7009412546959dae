from __future__ import annotations

import asyncio
import functools
import gc
import json
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
from shared.security.credentials import Principal
from shared.web.caching import NOT_MODIFIED_RESPONSE, ResponseCache, cached_conditional_json
from shared.security.idempotency import Idempotency, IdempotencyDep
from shared.web.group_commit import app_part, close_app_writer
from shared.web.problems import Problem, problem_responses
from shared.security.access import request_audit_context, require_meeting, set_audit_context
from shared.ops.runtime import SessionDep


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


def cast_writer(app: FastAPI) -> CastWriter:
    """The process's cast writer for this app, made on first use."""

    def make() -> CastWriter:
        cache, counter, board = app.state.ballot_cache, app.state.votes_cast, app.state.board_cache

        def committed(casts) -> None:
            for cast in casts:
                counter.labels(cast.kind).inc()
                cache.invalidate(cast.ballot_id)
                board.invalidate(cast.token_meeting_id)  # the hall's screen shows the vote next poll

        return CastWriter(app.state.runtime.db,
                          functools.partial(record_casts, seal_secret=app.state.settings.ballot_seal_secret),
                          on_committed=committed)

    return app_part(app, "cast_writer", make)


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
    """The clerk's system (`voting:admin`) prepares the satisfaction vote (满意度测评) on a department's special work report,
    as a draft: nothing can be cast until it is opened. With `agenda_item_id` of a re-report item, the department,
    year and round 2 come from it. Takes an `Idempotency-Key`. Causes no event. Refusals: `not-found` (404, the
    meeting), `unknown-agenda-item` (422), `validation-error` (422, department or evaluation_year missing),
    `idempotency-key-reused` (422)."""
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
    """The clerk's system (`voting:admin`) prepares a yes/no/abstain (赞成/反对/弃权) ballot, one question or several voted
    together (appointments person by person), as a draft. Takes an `Idempotency-Key`. Causes no event. Refusals:
    `not-found` (404), `unknown-agenda-item` (422), `idempotency-key-reused` (422)."""
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
    """Members' devices and the clerk (`voting:read`; a member token for this ballot's meeting only) poll the ballot:
    status and turnout while open, results once closed. Answers with an ETag and `Cache-Control: private, max-age=2`;
    send `If-None-Match` for a 304 while nothing changed. Changes nothing. Refusals: `not-found` (404),
    `other-meeting` (403)."""
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
    """The clerk (`voting:run`) opens a draft ballot when the chair calls the vote; present members can then cast. A
    committee ballot needs a quorum (more than half of all members present; a nomination poll does not). Records who
    was present at open. Causes no event. Refusals: `no-quorum` (409, with present and members_total), `ballot-state`
    / `ballot-closed` / `ballot-void` (409, not a draft), `other-meeting` (403), `not-found` (404)."""
    ballot = service.open_ballot(session, _ballot_for_run(session, principal, ballot_id), seal_secret=_seal_secret(request))
    _changed(request, session, ballot_id)
    session.commit()
    return service.ballot_out(session, ballot)


@router.post(
    "/ballots/{ballot_id}/votes", status_code=status.HTTP_201_CREATED, response_model=VoteReceipt,
    summary="Cast one's own vote, with one's member token for the ballot's meeting",
    description="A member casts their own vote from their seat's device, with the member token the clerk's system "
                "issued them for this meeting, while the ballot is open. The vote is sealed: no one can read it before "
                "the close, and afterwards it is kept apart from who voted; the answer's `receipt_code` lets the "
                "member confirm later that it was counted. The 201 comes once the vote is committed. With an "
                "Idempotency-Key a retry gets the same receipt while the ballot is open. Causes no event (the close "
                "does). Refusals: `member-token-required` (403, an API key cannot cast), `not-your-vote` (403, "
                "another member's id), `other-meeting` (403), `not-a-member` (403), `not-present` (403, not checked "
                "in), `ballot-not-open` (409), `already-voted` (409), `unknown-candidate`, `unknown-question`, "
                "`too-many-choices`, `validation-error` (422, the body does not fit the ballot's kind), "
                "`vote-outcome-unknown`, `vote-queue-full` (503: retry after Retry-After).",
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
    """The clerk (`voting:run`) closes an open ballot: the sealed votes are opened, counted and stored apart from who
    voted, and the sealing key is erased. A competitive selection decides its winners; a tie at the cut-off or
    unfilled seats create the next round as a draft (runoff, 另行选举). Causes `ballot.closed` (scoring grades a
    satisfaction vote from it and may follow with `vote.marked_unsatisfied`; a nomination poll's
    counts feed scoring's composite; tracking opens a case for each department a competitive selection chose). Refusals: `ballot-not-open` (409, still a draft), `ballot-closed` / `ballot-void` (409), `other-meeting`
    (403), `not-found` (404)."""
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
    """The clerk (`voting:run`) records the counts taken by show of hands (举手表决) when the devices fail, before any
    electronic vote: satisfaction and yes/no/abstain ballots only. It closes the ballot (from draft or open) with the
    counts, needs a quorum, and marks the result as show of hands. Causes `ballot.closed`, as a close does. Refusals:
    `show-of-hands-not-allowed` (409, selections and polls), `electronic-votes-exist` (409: void and re-run instead),
    `no-quorum` (409), `ballot-closed` / `ballot-void` (409), `unknown-option`, `unknown-question`,
    `show-of-hands-exceeds-present`, `validation-error` (422)."""
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
    """The clerk's system (`voting:admin`) marks a closed ballot's result as announced (宣布表决结果): closed → published. The
    counts are public once closed either way. Causes no event. Refusals: `ballot-state` (409, not closed, or already
    published), `ballot-void` (409), `not-found` (404)."""
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
    """The clerk's system (`voting:admin`) voids a draft or open ballot that has no result (the devices failed mid-vote,
    a wrong subject), with a reason; any votes cast become unreadable for good, and it stays on record. Re-run it with
    POST …/rerun. Causes no event. Refusals: `ballot-closed` (409, it has a result), `ballot-void` (409, already),
    `not-found` (404)."""
    ballot = service.void_ballot(session, service.get_ballot(session, ballot_id, for_update=True), data.reason)
    _changed(request, session, ballot_id)
    session.commit()
    return service.ballot_out(session, ballot)


@router.post(
    "/ballots/{ballot_id}/rerun", status_code=status.HTTP_201_CREATED, response_model=BallotOut,
    summary="Create the draft ballot that re-runs a voided one", responses=problem_responses(404, 409),
)
def rerun_ballot(ballot_id: str, request: Request, session: SessionDep, idem: IdempotencyDep, _: Admin):
    """The clerk's system (`voting:admin`) creates the draft that re-runs a voided ballot: same subject, questions or
    candidates (a poll's voters too), pointing back at it. Takes an `Idempotency-Key`. Causes no event. Refusals:
    `ballot-not-void` (409), `already-rerun` (409), `not-found` (404), `idempotency-key-reused` (422)."""
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
    """A member (`voting:read`; a member token for this ballot's meeting) confirms that the vote behind a receipt code
    was counted, without showing what it was. Changes nothing. Refusals: `not-found` (404, the ballot),
    `other-meeting` (403)."""
    ballot = service.get_ballot(session, ballot_id)
    require_meeting(principal, ballot.meeting_id)
    return ReceiptCheck(ballot_id=ballot_id, counted=service.receipt_counted(session, ballot, receipt_code))
