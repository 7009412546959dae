from __future__ import annotations

from fastapi import APIRouter, status

from services.voting.ballots.schemas import BallotOut
from services.voting.ballots.service import ballot_out
from services.voting.nomination import service
from services.voting.nomination.schemas import NominationPollCreate
from shared.problems import problem_responses
from shared.service import SessionDep

router = APIRouter(prefix="/v1", tags=["nomination polls"])


@router.post(
    "/nomination-polls", status_code=status.HTTP_201_CREATED, response_model=BallotOut,
    summary="Create a constituency's nomination poll (draft); open, vote and close it under /v1/ballots/{id}",
    responses=problem_responses(404, 422),
)
def create_poll(data: NominationPollCreate, session: SessionDep) -> BallotOut:
    poll = service.create_poll(session, data)
    session.commit()
    return ballot_out(session, poll)
