from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from services.scoring.satisfaction import service
from services.scoring.satisfaction.schemas import SatisfactionResultOut
from shared.web.pagination import Cursor, Limit, Page
from shared.web.problems import problem_responses
from shared.security.access import require
from shared.ops.runtime import SessionDep
from shared.web.text import DepartmentName

router = APIRouter(prefix="/v1/satisfaction-results", tags=["satisfaction"], dependencies=[Depends(require("scoring:read"))])


@router.get("", response_model=Page[SatisfactionResultOut], summary="Graded satisfaction votes, by meeting date")
def list_results(
    session: SessionDep,
    department: DepartmentName | None = Query(None),
    evaluation_year: int | None = Query(None, ge=2000, le=2100),
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[SatisfactionResultOut]:
    """The office and integrators (`scoring:read`) list the graded satisfaction votes by meeting date, for a department
    or a year. Results arrive from voting's `ballot.closed`; each grading caused `score.computed` (satisfaction), and
    `vote.marked_unsatisfied` when 不满意. Changes nothing. Refusals: `invalid-cursor` (422)."""
    return service.list_results(session, department, evaluation_year, limit=limit, cursor=cursor)


@router.get("/{ballot_id}", response_model=SatisfactionResultOut, responses=problem_responses(404), summary="The graded result of one ballot")
def get_result(ballot_id: str, session: SessionDep) -> SatisfactionResultOut:
    """The office and integrators (`scoring:read`) read the grade of one satisfaction ballot, by voting's ballot id, with
    the counts and the base it was taken of. Changes nothing. Refusals: `not-found` (404, not graded yet)."""
    return service.result_out(service.get_result_by_ballot(session, ballot_id))
