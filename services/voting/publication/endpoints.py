"""Public reads (no credential, `public_read` rate limit): the meetings, the
chamber board, finished ballots' results and a selection's rounds."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from services.voting.publication import service
from services.voting.publication.schemas import MeetingBoard, PublicBallot, PublicMeeting
from shared.web.caching import NOT_MODIFIED_RESPONSE, ResponseCache, cached_conditional_json, conditional_json
from shared.web.pagination import Cursor, Limit, Page
from shared.web.problems import problem_responses
from shared.web.ratelimit import rate_limit
from shared.ops.runtime import SessionDep
from shared.web.text import text

router = APIRouter(prefix="/v1/public", tags=["public"], dependencies=[Depends(rate_limit("public_read"))])

# Every screen in the hall polls the board: one database read per meeting per
# quarter second at most, so a vote shows within well under a second.
BOARD_CACHE_TTL = 0.25
BOARD_MAX_AGE = 1


def board_cache(request: Request) -> ResponseCache:
    return request.app.state.board_cache


@router.get("/meetings", response_model=Page[PublicMeeting], summary="Meetings by date, as published")
def list_meetings(session: SessionDep, limit: Limit = 50, cursor: Cursor = None) -> Page[PublicMeeting]:
    """The portal and the public (no credential, `public_read` rate limit) list the meetings by date: number, date, place
    and 应到, never a roster name. Changes nothing. Refusals: `invalid-cursor` (422), `rate-limited` (429)."""
    return service.list_public_meetings(session, limit=limit, cursor=cursor)


@router.get("/meetings/{meeting_id}/board", response_model=MeetingBoard,
            responses={**NOT_MODIFIED_RESPONSE, **problem_responses(404)},
            summary="The chamber board (大屏): 应到/实到, quorum, the ballot in hand with turnout, the result at close (ETag/304)")
async def meeting_board(meeting_id: str, request: Request):
    """The chamber board (大屏) on the hall's screen polls this once a second: 应到/实到, the quorum line, the ballot in hand
    with its live turnout, and the result at the close until the next opens. No credential (`public_read` limit);
    answers with an ETag, 304 on If-None-Match. Changes nothing. Refusals: `not-found` (404), `rate-limited` (429)."""
    db = request.app.state.runtime.db

    def compute() -> MeetingBoard:
        with db.read_sessionmaker() as session:
            return service.meeting_board(session, meeting_id)

    return await cached_conditional_json(request, board_cache(request), meeting_id, compute, max_age=BOARD_MAX_AGE)


@router.get("/ballots/{ballot_id}", response_model=PublicBallot,
            responses={**NOT_MODIFIED_RESPONSE, **problem_responses(404)},
            summary="A closed ballot's result: counts, passed or not, winners (ETag/304)")
def published_ballot(ballot_id: str, request: Request, session: SessionDep):
    """The portal and the public (no credential) read a finished ballot's result: counts per option, invalid, passed or
    not, the winners; never who voted what. Nomination polls are not published here. ETag/304. Changes nothing.
    Refusals: `result-not-published` (404, not closed yet), `not-found` (404), `rate-limited` (429)."""
    return conditional_json(request, service.published_ballot(session, ballot_id), max_age=30)


@router.get("/selection-rounds", response_model=Page[PublicBallot],
            summary="The finished rounds of a batch's competitive selection (main, runoff, supplementary), in order")
def selection_rounds(session: SessionDep, plan_id: Annotated[text(100, min_length=1), Query()],
                     batch: int | None = Query(None, ge=1, le=20)) -> Page[PublicBallot]:
    # A selection has a handful of rounds: one page.
    """The portal (no credential) reads every finished round of a batch's competitive selection in the order held (main,
    runoff, supplementary), to show how the departments were chosen. One page. Changes nothing. Refusals:
    `validation-error` (422, no plan_id), `rate-limited` (429)."""
    return Page(items=service.selection_rounds(session, plan_id, batch), next_cursor=None)
