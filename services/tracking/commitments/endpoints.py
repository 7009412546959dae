from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse

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
from shared.pagination import Cursor, Limit, Page
from shared.problems import problem_responses
from shared.service import SessionDep

router = APIRouter(prefix="/v1", tags=["commitments"])


@router.post("/cases/{case_id}/commitments", response_model=CommitmentOut, status_code=201,
             summary="Add a rectification commitment (整改承诺)", responses=problem_responses(404, 409, 422))
def add_commitment(case_id: str, body: CommitmentCreate, request: Request, session: SessionDep) -> CommitmentOut:
    commitment = service.add_commitment(session, case_id, body, http_source(request))
    session.commit()
    return service.commitment_out(commitment)


@router.get("/commitments", response_model=Page[CommitmentOut], summary="Commitments, each flagged when overdue")
def list_commitments(
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    case_id: str | None = Query(None, max_length=36),
    overdue: bool | None = Query(None, description="only overdue (true) or only not overdue (false)"),
) -> Page[CommitmentOut]:
    return service.list_commitments(session, case_id=case_id, overdue=overdue, limit=limit, cursor=cursor)


@router.get("/commitments/{commitment_id}", response_model=CommitmentDetail, responses=problem_responses(404))
def get_commitment(commitment_id: str, session: SessionDep) -> CommitmentDetail:
    return service.commitment_detail(service.get_commitment(session, commitment_id))


@router.post("/commitments/{commitment_id}/progress", response_model=ProgressOut, status_code=201,
             summary="Report progress, with attachments", responses=problem_responses(404, 409, 422))
def add_progress(commitment_id: str, body: ProgressCreate, request: Request, session: SessionDep) -> ProgressOut:
    settings = request.app.state.settings
    update = service.add_progress(session, commitment_id, body, http_source(request),
                                  attachments_dir=settings.attachments_dir, max_bytes=settings.attachment_max_bytes)
    session.commit()
    return service.progress_out(update)


@router.post("/commitments/{commitment_id}/complete", response_model=CommitmentOut, responses=problem_responses(404, 409, 422))
def complete_commitment(commitment_id: str, body: CommitmentComplete, request: Request, session: SessionDep) -> CommitmentOut:
    commitment = service.complete_commitment(session, commitment_id, body, http_source(request))
    session.commit()
    return service.commitment_out(commitment)


@router.post("/commitments/{commitment_id}/close", response_model=CommitmentOut, summary="Close a commitment with a reason (销号)",
             responses=problem_responses(404, 409, 422))
def close_commitment(commitment_id: str, body: CommitmentCloseWithReason, request: Request, session: SessionDep) -> CommitmentOut:
    commitment = service.close_commitment(session, commitment_id, body, http_source(request))
    session.commit()
    return service.commitment_out(commitment)


@router.get("/attachments/{attachment_id}", response_class=FileResponse, summary="An attachment's content",
            responses=problem_responses(404))
def attachment_content(attachment_id: str, request: Request, session: SessionDep) -> FileResponse:
    attachment, path = service.attachment_file(session, attachment_id, request.app.state.settings.attachments_dir)
    return FileResponse(path, media_type=attachment.content_type, filename=attachment.file_name,
                        headers={"ETag": f'"{attachment.sha256}"'})
