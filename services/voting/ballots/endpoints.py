from __future__ import annotations

from fastapi import APIRouter, Request, status

from services.voting.ballots import service
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
from services.voting.meetings.service import get_meeting
from shared.problems import problem_responses
from shared.service import SessionDep

router = APIRouter(prefix="/v1", tags=["ballots"])


def _seal_secret(request: Request) -> str:
    return request.app.state.settings.ballot_seal_secret


@router.post(
    "/meetings/{meeting_id}/ballots", status_code=status.HTTP_201_CREATED, response_model=BallotOut,
    summary="Create a satisfaction ballot (draft)", responses=problem_responses(404, 422),
)
def create_ballot(meeting_id: str, data: SatisfactionBallotCreate, session: SessionDep) -> BallotOut:
    meeting = get_meeting(session, meeting_id)
    ballot = service.create_satisfaction_ballot(session, meeting, data)
    session.commit()
    return service.ballot_out(session, ballot)


@router.post(
    "/meetings/{meeting_id}/resolution-ballots", status_code=status.HTTP_201_CREATED, response_model=BallotOut,
    summary="Create a yes/no/abstain ballot (赞成/反对/弃权) with one or several questions (draft)",
    responses=problem_responses(404, 422),
)
def create_resolution_ballot(meeting_id: str, data: ResolutionBallotCreate, session: SessionDep) -> BallotOut:
    meeting = get_meeting(session, meeting_id)
    ballot = service.create_resolution_ballot(session, meeting, data)
    session.commit()
    return service.ballot_out(session, ballot)


@router.get("/ballots/{ballot_id}", response_model=BallotOut, responses=problem_responses(404))
def get_ballot(ballot_id: str, session: SessionDep) -> BallotOut:
    return service.ballot_out(session, service.get_ballot(session, ballot_id))


@router.post(
    "/ballots/{ballot_id}/open", response_model=BallotOut,
    summary="Open voting; needs a quorum", responses=problem_responses(404, 409),
)
def open_ballot(ballot_id: str, request: Request, session: SessionDep) -> BallotOut:
    ballot = service.open_ballot(session, service.get_ballot(session, ballot_id, for_update=True), seal_secret=_seal_secret(request))
    session.commit()
    return service.ballot_out(session, ballot)


@router.post(
    "/ballots/{ballot_id}/votes", status_code=status.HTTP_201_CREATED, response_model=VoteReceipt,
    summary="Cast one member's vote", responses=problem_responses(403, 404, 409, 422),
)
def cast_vote(ballot_id: str, data: VoteCast, request: Request, session: SessionDep) -> VoteReceipt:
    ballot = service.get_ballot(session, ballot_id, key_share=True)
    code = service.cast_vote(session, ballot, data, seal_secret=_seal_secret(request))
    kind = ballot.kind
    session.commit()
    request.app.state.votes_cast.labels(kind).inc()
    return VoteReceipt(ballot_id=ballot_id, receipt_code=code)


@router.post(
    "/ballots/{ballot_id}/close", response_model=BallotOut,
    summary="Close voting, tally, and announce ballot.closed", responses=problem_responses(404, 409),
)
def close_ballot(ballot_id: str, request: Request, session: SessionDep) -> BallotOut:
    ballot = service.get_ballot(session, ballot_id, for_update=True)
    service.close_ballot(session, ballot, seal_secret=_seal_secret(request))
    session.commit()
    return service.ballot_out(session, ballot)


@router.post(
    "/ballots/{ballot_id}/show-of-hands", response_model=BallotOut,
    summary="Record a show-of-hands result (counts only) when devices fail; closes and announces ballot.closed",
    responses=problem_responses(404, 409, 422),
)
def record_show_of_hands(ballot_id: str, data: ShowOfHandsRecord, session: SessionDep) -> BallotOut:
    ballot = service.get_ballot(session, ballot_id, for_update=True)
    service.record_show_of_hands(session, ballot, data)
    session.commit()
    return service.ballot_out(session, ballot)


@router.post(
    "/ballots/{ballot_id}/publish", response_model=BallotOut,
    summary="Publish (announce) a closed ballot's result", responses=problem_responses(404, 409),
)
def publish_ballot(ballot_id: str, session: SessionDep) -> BallotOut:
    ballot = service.publish_ballot(session, service.get_ballot(session, ballot_id, for_update=True))
    session.commit()
    return service.ballot_out(session, ballot)


@router.post(
    "/ballots/{ballot_id}/void", response_model=BallotOut,
    summary="Void a ballot that has no result yet, with a reason; it stays on record",
    responses=problem_responses(404, 409, 422),
)
def void_ballot(ballot_id: str, data: BallotVoid, session: SessionDep) -> BallotOut:
    ballot = service.void_ballot(session, service.get_ballot(session, ballot_id, for_update=True), data.reason)
    session.commit()
    return service.ballot_out(session, ballot)


@router.post(
    "/ballots/{ballot_id}/rerun", status_code=status.HTTP_201_CREATED, response_model=BallotOut,
    summary="Create the draft ballot that re-runs a voided one", responses=problem_responses(404, 409),
)
def rerun_ballot(ballot_id: str, session: SessionDep) -> BallotOut:
    rerun = service.rerun_ballot(session, service.get_ballot(session, ballot_id, for_update=True))
    session.commit()
    return service.ballot_out(session, rerun)


@router.get(
    "/ballots/{ballot_id}/receipts/{receipt_code}", response_model=ReceiptCheck,
    summary="Confirm that a vote with this receipt was counted", responses=problem_responses(404),
)
def check_receipt(ballot_id: str, receipt_code: str, session: SessionDep) -> ReceiptCheck:
    ballot = service.get_ballot(session, ballot_id)
    return ReceiptCheck(ballot_id=ballot_id, counted=service.receipt_counted(session, ballot, receipt_code))
