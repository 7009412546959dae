from __future__ import annotations

from fastapi import APIRouter, Query, status

from services.voting.ballots.service import ballot_out
from services.voting.ballots.schemas import BallotOut
from services.voting.meetings.access import Admin, Reader, refuse_member_token
from services.voting.meetings.service import get_meeting
from services.voting.selection import service
from services.voting.selection.schemas import SelectionBallotCreate, SlateOut
from shared.idempotency import IdempotencyDep
from shared.problems import problem_responses
from shared.service import SessionDep

router = APIRouter(prefix="/v1", tags=["competitive selection"])


@router.post(
    "/meetings/{meeting_id}/selection-ballots", status_code=status.HTTP_201_CREATED, response_model=BallotOut,
    summary="Create a competitive selection ballot (差额票决, draft)", responses=problem_responses(404, 422),
)
def create_selection_ballot(meeting_id: str, data: SelectionBallotCreate, session: SessionDep, idem: IdempotencyDep,
                            _: Admin):
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
    refuse_member_token(principal)
    return service.slate_out(service.get_slate(session, plan_id, batch))
