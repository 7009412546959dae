from __future__ import annotations

from fastapi import APIRouter, Request, status

from services.voting.ballots import service
from services.voting.ballots.schemas import BallotOut, ReceiptCheck, SatisfactionBallotCreate, SatisfactionVoteCast, VoteReceipt
from services.voting.meetings.service import get_meeting
from shared.problems import problem_responses
from shared.service import SessionDep

router = APIRouter(prefix="/v1", tags=["ballots"])


@router.post(
    "/meetings/{meeting_id}/ballots", status_code=status.HTTP_201_CREATED, response_model=BallotOut,
    summary="Create a satisfaction ballot (draft)", responses=problem_responses(404, 422),
)
def create_ballot(meeting_id: str, data: SatisfactionBallotCreate, session: SessionDep) -> BallotOut:
    meeting = get_meeting(session, meeting_id)
    ballot = service.create_satisfaction_ballot(session, meeting, data)
    session.commit()
    return service.ballot_out(session, ballot)


@router.get("/ballots/{ballot_id}", response_model=BallotOut, responses=problem_responses(404))
def get_ballot(ballot_id: str, session: SessionDep) -> BallotOut:
    return service.ballot_out(session, service.get_ballot(session, ballot_id))


@router.post(
    "/ballots/{ballot_id}/open", response_model=BallotOut,
    summary="Open voting; needs a quorum", responses=problem_responses(404, 409),
)
def open_ballot(ballot_id: str, session: SessionDep) -> BallotOut:
    ballot = service.open_ballot(session, service.get_ballot(session, ballot_id, for_update=True))
    session.commit()
    return service.ballot_out(session, ballot)


@router.post(
    "/ballots/{ballot_id}/votes", status_code=status.HTTP_201_CREATED, response_model=VoteReceipt,
    summary="Cast one member's vote", responses=problem_responses(403, 404, 409, 422),
)
def cast_vote(ballot_id: str, data: SatisfactionVoteCast, request: Request, session: SessionDep) -> VoteReceipt:
    ballot = service.get_ballot(session, ballot_id)
    code = service.cast_vote(session, ballot, data)
    session.commit()
    request.app.state.votes_cast.labels(ballot.kind).inc()
    return VoteReceipt(ballot_id=ballot_id, receipt_code=code)


@router.post(
    "/ballots/{ballot_id}/close", response_model=BallotOut,
    summary="Close voting, tally, and announce ballot.closed", responses=problem_responses(404, 409),
)
def close_ballot(ballot_id: str, request: Request, session: SessionDep) -> BallotOut:
    ballot = service.get_ballot(session, ballot_id, for_update=True)
    service.close_ballot(session, ballot)
    session.commit()
    return service.ballot_out(session, ballot)


@router.get(
    "/ballots/{ballot_id}/receipts/{receipt_code}", response_model=ReceiptCheck,
    summary="Confirm that a vote with this receipt was counted", responses=problem_responses(404),
)
def check_receipt(ballot_id: str, receipt_code: str, session: SessionDep) -> ReceiptCheck:
    ballot = service.get_ballot(session, ballot_id)
    return ReceiptCheck(ballot_id=ballot_id, counted=service.receipt_counted(session, ballot, receipt_code))
