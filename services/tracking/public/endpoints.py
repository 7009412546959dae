"""Read-only, no credentials, rate limited per client address: what may be
published about each case."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse

from services.tracking.commitments.service import attachment_file

from services.tracking.public import service
from services.tracking.public.schemas import CaseStatus, PublicCase, PublicCaseDetail, PublicTimelineEntry
from services.tracking.public.status_cache import STATUS_CACHE, status_key
from shared.web.caching import NOT_MODIFIED_RESPONSE, cached_conditional_json, conditional_json
from shared.web.pagination import Cursor, Limit, Page
from shared.web.problems import problem_responses
from shared.web.ratelimit import rate_limit
from shared.ops.runtime import SessionDep
from shared.web.text import DepartmentName

router = APIRouter(prefix="/v1/public", tags=["public"], dependencies=[Depends(rate_limit("public_read"))])


def _with_limit_headers(answer: Response, response: Response) -> Response:
    """An endpoint returning its own Response keeps the X-RateLimit-* headers
    the rate limit dependency set on the request's response."""
    for name, value in response.headers.items():
        if name.lower().startswith("x-ratelimit-"):
            answer.headers[name] = value
    return answer


@router.get("/cases", response_model=Page[PublicCase], summary="Cases, as published 评议整改公开")
def list_cases(
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    evaluation_year: int | None = Query(None, ge=2000, le=2100),
    department: DepartmentName | None = Query(None),
) -> Page[PublicCase]:
    """The portal and the public (no credential, `public_read` limit) list the cases as published (评议整改公开): department,
    year, stage and latest grade. Changes nothing. Refusals: `invalid-cursor` (422), `rate-limited` (429)."""
    return service.list_public_cases(session, year=evaluation_year, department=department, limit=limit, cursor=cursor)


@router.get("/cases/{case_id}", response_model=PublicCaseDetail, responses={**problem_responses(404), **NOT_MODIFIED_RESPONSE},
            summary="A case with milestones, commitments, progress, results, report, inquiry (ETag/304)")
def get_case(case_id: str, request: Request, response: Response, session: SessionDep) -> Response:
    """The portal and the public (no credential) read a case as published: milestones, commitments with progress and
    attachments, results, work reports, inquiry, investigations, re-reports, escalation and interpellation motions;
    never an internal note, findings or a named official below the responsible unit. ETag/304. Changes nothing.
    Refusals: `not-found` (404), `rate-limited` (429)."""
    detail = service.public_case_detail(session, case_id)
    return _with_limit_headers(conditional_json(request, detail, max_age=30), response)


@router.get("/cases/{case_id}/status", response_model=CaseStatus, summary="Compact status for mobile polling (ETag/304)",
            responses={**problem_responses(404), **NOT_MODIFIED_RESPONSE})
async def case_status(case_id: str, request: Request, response: Response) -> Response:
    # The polling hot path: answered from a one-second cache, so a burst of
    # polls costs one database read; no session unless the cache misses.
    """Mobile clients poll a case's compact status: stage, latest grade, the next deadline, overdue count and the last
    change; at most a second old, ETag/304. No credential. Changes nothing. Refusals: `not-found` (404),
    `rate-limited` (429)."""
    def compute():
        with request.app.state.runtime.db.read_sessionmaker() as session:
            return service.case_status(session, case_id)

    answer = await cached_conditional_json(request, STATUS_CACHE, status_key(case_id), compute, max_age=30)
    return _with_limit_headers(answer, response)


@router.get("/cases/{case_id}/timeline", response_model=Page[PublicTimelineEntry], responses=problem_responses(404),
            summary="Every state change with its time and source, oldest first")
def timeline(case_id: str, session: SessionDep, limit: Limit = 50, cursor: Cursor = None) -> Page[PublicTimelineEntry]:
    """The portal and the public (no credential) read every state change of a case with its time and source (HTTP or an
    event), oldest first. Changes nothing. Refusals: `not-found` (404), `invalid-cursor` (422), `rate-limited` (429)."""
    return service.public_timeline(session, case_id, limit=limit, cursor=cursor)


@router.get("/attachments/{attachment_id}", response_class=FileResponse, responses=problem_responses(404),
            summary="A progress report's attachment (commitments and their progress are public throughout)")
def attachment_content(attachment_id: str, request: Request, session: SessionDep) -> FileResponse:
    """The portal and the public (no credential) download a progress report's attachment; commitments and their progress
    are public throughout. Cached publicly for an hour. Changes nothing. Refusals: `not-found` (404), `rate-limited`
    (429)."""
    attachment, path = attachment_file(session, attachment_id, request.app.state.settings.attachments_dir)
    return FileResponse(path, media_type=attachment.content_type, filename=attachment.file_name,
                        headers={"ETag": f'"{attachment.sha256}"', "Cache-Control": "public, max-age=3600"})
