from __future__ import annotations

from fastapi import APIRouter, status

from services.voting.ballots.schemas import BallotOut
from services.voting.ballots.service import ballot_out
from services.voting.meetings.access import Admin
from services.voting.nomination import service
from services.voting.nomination.schemas import NominationPollCreate
from shared.security.idempotency import IdempotencyDep
from shared.web.problems import problem_responses
from shared.ops.runtime import SessionDep

router = APIRouter(prefix="/v1", tags=["nomination polls"])


@router.post(
    "/nomination-polls", status_code=status.HTTP_201_CREATED, response_model=BallotOut,
    summary="Create a constituency's nomination poll (draft); open, vote and close it under /v1/ballots/{id}",
    description="The clerk's system (`voting:admin`) sets up the nomination poll (推荐投票) of one constituency "
                "(NPC deputies, the committee's working bodies, districts and enterprises) on the candidate "
                "departments, with its own roster of voters, as a draft. Each voter on the poll's roster casts with "
                "a member token for the poll's meeting (POST /v1/meetings/{meeting_id}/member-tokens with the "
                "voter_id); the poll is opened and closed like a ballot (no quorum), and its close causes "
                "`ballot.closed`, which scoring counts into the composite ranking. Takes an `Idempotency-Key`. "
                "Refusals: `not-found` (404, the meeting), `inconsistent-request` (422, a voter listed twice, or "
                "max_choices above the departments), `idempotency-key-reused` (422).",
    responses=problem_responses(404, 422),
)
def create_poll(data: NominationPollCreate, session: SessionDep, idem: IdempotencyDep, _: Admin):
    if (stored := idem.replay(session)) is not None:
        return stored
    poll = service.create_poll(session, data)
    body = ballot_out(session, poll)
    idem.record(session, 201, body)
    session.commit()
    return body
