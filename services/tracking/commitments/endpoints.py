from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse

from services.tracking import access
from services.tracking.access import Department, Reader, Staff
from services.tracking.commitments import service
from services.tracking.commitments.schemas import (
    CommitmentCloseWithReason,
    CommitmentComplete,
    CommitmentCreate,
    CommitmentDetail,
    CommitmentOut,
    ProgressCreate,
    ProgressOut,
)
from services.tracking.sources import http_source
from services.tracking.writes import create_once
from shared.security.idempotency import IdempotencyDep
from shared.web.pagination import Cursor, Limit, Page
from shared.web.problems import problem_responses
from shared.ops.runtime import SessionDep
from shared.web.text import text

router = APIRouter(prefix="/v1", tags=["commitments"])


@router.post("/cases/{case_id}/commitments", response_model=CommitmentOut, status_code=201,
             summary="Add a rectification commitment (整改承诺); a department's key, to its own case only",
             responses=problem_responses(404, 409, 422))
def add_commitment(case_id: str, body: CommitmentCreate, request: Request, session: SessionDep, idem: IdempotencyDep,
                   principal: Department):
    """The department (`tracking:write`, its own case only) or staff add a rectification commitment (整改承诺): the problem
    with its evidence (a 12345 category, an investigation finding, an inquiry question), the measure, the responsible
    unit and person, the deadline. Commitments are public; `internal_note` is not. Takes an `Idempotency-Key`. Causes
    no event. Refusals: `deadline-before-selection`, `evidence-not-found` (422), `case-closed`, `case-not-selected`
    (409), `other-department` (403), `not-found` (404)."""
    access.for_case(session, principal, case_id)
    return create_once(session, idem, lambda: service.add_commitment(session, case_id, body, http_source(request)),
                       service.commitment_out)


@router.get("/commitments", response_model=Page[CommitmentOut], summary="Commitments, each flagged when overdue")
def list_commitments(
    session: SessionDep,
    principal: Reader,
    limit: Limit = 50,
    cursor: Cursor = None,
    case_id: text(36) | None = Query(None),
    overdue: bool | None = Query(None, description="only overdue (true) or only not overdue (false)"),
) -> Page[CommitmentOut]:
    """Staff and departments (`tracking:read`; a department's key, its own only) list commitments, each flagged when its
    deadline passed unfinished; filter by case or overdue. Internal notes read null without `tracking:read-internal`.
    Changes nothing. Refusals: `invalid-cursor` (422)."""
    return access.shown(principal, service.list_commitments(
        session, case_id=case_id, overdue=overdue, limit=limit, cursor=cursor, department=access.own_department(principal)))


@router.get("/commitments/{commitment_id}", response_model=CommitmentDetail, responses=problem_responses(404))
def get_commitment(commitment_id: str, session: SessionDep, principal: Reader) -> CommitmentDetail:
    """Staff and the department (`tracking:read`; its own only) read a commitment with every progress report and
    attachment. Changes nothing. Refusals: `not-found` (404), `other-department` (403)."""
    access.for_commitment(session, principal, commitment_id)
    return access.shown(principal, service.commitment_detail(service.get_commitment(session, commitment_id)))


@router.post("/commitments/{commitment_id}/progress", response_model=ProgressOut, status_code=201,
             summary="Report progress, with attachments; a department's key, on its own commitments only",
             responses=problem_responses(404, 409, 422))
def add_progress(commitment_id: str, body: ProgressCreate, request: Request, session: SessionDep, idem: IdempotencyDep,
                 principal: Department):
    """The department (`tracking:write`, its own commitments only) reports progress: the text, percent complete and
    attachments (base64, each up to TRACKING_ATTACHMENT_MAX_BYTES). Progress and attachments are public. Takes an
    `Idempotency-Key`. Causes no event. Refusals: `commitment-finished` (409), `case-closed` (409),
    `date-before-selection`, `attachment-too-large`, `attachment-not-base64` (422), `body-too-large` (413),
    `other-department` (403), `not-found` (404)."""
    access.for_commitment(session, principal, commitment_id)
    settings = request.app.state.settings
    return create_once(session, idem, lambda: service.add_progress(
        session, commitment_id, body, http_source(request),
        attachments_dir=settings.attachments_dir, max_bytes=settings.attachment_max_bytes,
    ), service.progress_out)


@router.post("/commitments/{commitment_id}/complete", response_model=CommitmentOut,
             summary="Mark a commitment done, with evidence; a department's key, on its own commitments only",
             responses=problem_responses(404, 409, 422))
def complete_commitment(commitment_id: str, body: CommitmentComplete, request: Request, session: SessionDep,
                        principal: Department) -> CommitmentOut:
    """The department (`tracking:write`, its own commitments only) marks a commitment done, with the evidence. Causes no
    event. Refusals: `commitment-finished` (409), `case-closed` (409), `date-before-selection` (422),
    `other-department` (403), `not-found` (404)."""
    access.for_commitment(session, principal, commitment_id)
    commitment = service.complete_commitment(session, commitment_id, body, http_source(request))
    session.commit()
    return service.commitment_out(commitment)


@router.post("/commitments/{commitment_id}/close", response_model=CommitmentOut, summary="Close a commitment with a reason (销号)",
             responses=problem_responses(404, 409, 422))
def close_commitment(commitment_id: str, body: CommitmentCloseWithReason, request: Request, session: SessionDep,
                     _: Staff) -> CommitmentOut:
    """The committee's staff (`tracking:admin`) close a commitment with a reason (销号), done or not. Causes no event.
    Refusals: `commitment-finished` (409), `case-closed` (409), `not-found` (404)."""
    commitment = service.close_commitment(session, commitment_id, body, http_source(request))
    session.commit()
    return service.commitment_out(commitment)


@router.get("/attachments/{attachment_id}", response_class=FileResponse, summary="An attachment's content",
            responses=problem_responses(404))
def attachment_content(attachment_id: str, request: Request, session: SessionDep, principal: Reader) -> FileResponse:
    """Staff and the department (`tracking:read`; its own only) download an attachment's bytes, with its content type and
    an ETag of its SHA-256. Changes nothing. Refusals: `not-found` (404), `other-department` (403)."""
    attachment, path = service.attachment_file(session, attachment_id, request.app.state.settings.attachments_dir)
    access.for_attachment(session, principal, attachment)
    return FileResponse(path, media_type=attachment.content_type, filename=attachment.file_name,
                        headers={"ETag": f'"{attachment.sha256}"'})
