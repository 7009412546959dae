from __future__ import annotations

from fastapi import APIRouter, Query, status

from services.voting.ballots.service import ballot_out
from services.voting.ballots.schemas import BallotOut
from services.voting.meetings.access import Admin, Reader, refuse_member_token
from services.voting.meetings.service import get_meeting
from services.voting.selection import service
from services.voting.selection.schemas import SelectionBallotCreate, SlateOut
from shared.security.idempotency import IdempotencyDep
from shared.web.problems import problem_responses
from shared.ops.runtime import SessionDep

router = APIRouter(prefix="/v1", tags=["competitive selection"])


@router.post(
    "/meetings/{meeting_id}/selection-ballots", status_code=status.HTTP_201_CREATED, response_model=BallotOut,
    summary="Create a competitive selection ballot (差额票决, draft)", responses=problem_responses(404, 422),
)
def create_selection_ballot(meeting_id: str, data: SelectionBallotCreate, session: SessionDep, idem: IdempotencyDep,
                            _: Admin):
    """The clerk's system (`voting:admin`) prepares the competitive selection (差额票决) of the departments to be evaluated,
    as a draft: the candidates given, or those of scoring's latest slate for a plan and batch (received as
    score.computed). Open, cast (`marks`) and close it under /v1/ballots/{id}; its close causes `ballot.closed`, from
    which tracking opens a case per winner. Takes an `Idempotency-Key`. Refusals: `not-competitive` (422, no more
    candidates than seats), `validation-error` (422: both or neither of candidates and slate, seats or year missing),
    `inconsistent-request` (422, surplus_min_percent above surplus_max_percent), `unknown-agenda-item` (422),
    `not-found` (404, the meeting or the slate)."""
    if (stored := idem.replay(session)) is not None:
        return stored
    meeting = get_meeting(session, meeting_id)
    ballot = service.create_selection_ballot(session, meeting, data)
    body = ballot_out(session, ballot)
    idem.record(session, 201, body)
    session.commit()
    return body


@router.get(
    "/slates/{plan_id}", response_model=SlateOut,
    summary="The latest slate scoring computed for a plan (and batch)", responses=problem_responses(404),
)
def get_slate(plan_id: str, session: SessionDep, principal: Reader, batch: int | None = Query(None, ge=1, le=12)) -> SlateOut:
    """The clerk's system or an integrator (`voting:read`, an API key) reads the latest slate scoring computed for a plan
    (and batch), as voting received it: the candidates a selection ballot can take. Changes nothing. Refusals:
    `not-found` (404, no slate yet), `member-token-not-allowed` (403)."""
    refuse_member_token(principal)
    return service.slate_out(service.get_slate(session, plan_id, batch))
