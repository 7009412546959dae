"""Rectification commitments (整改承诺), their progress and completion."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import os
import tempfile
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from services.tracking.cases.service import get_case, record, require_open_case, require_selected
from services.tracking.commitments.schemas import (
    AttachmentOut,
    AttachmentUpload,
    CommitmentCloseWithReason,
    CommitmentComplete,
    CommitmentCreate,
    CommitmentDetail,
    CommitmentOut,
    EvidenceLink,
    ProgressCreate,
    ProgressOut,
)
from services.tracking.domain.milestones import FINISHED_COMMITMENT_STATUSES, OPEN_COMMITMENT_STATUSES, is_overdue
from services.tracking.models import Attachment, Commitment, EvaluationCase, InquiryQuestion, Investigation, ProgressUpdate
from services.tracking.sources import today
from shared.messaging.events import utcnow
from shared.web.pagination import Page, paginate
from shared.web.problems import Problem, not_found

COMMITMENT_STATUS_LABELS = {"open": "未开始", "in_progress": "整改中", "done": "已完成", "closed": "已销号"}


def deadline_before_selection(deadline: dt.date, selection_date: dt.date) -> Problem:
    return Problem(422, "deadline-before-selection", "Deadline before selection 整改期限早于差额表决日期",
                   f"deadline {deadline} is before the selection date {selection_date}",
                   rule="deadline_on_or_after_selection_date", selection_date=selection_date)


def _check_evidence(session: Session, case: EvaluationCase, evidence: list[EvidenceLink]) -> None:
    """Links to findings and questions must point at this case's own records."""
    for link in evidence:
        model = {"investigation_finding": Investigation, "inquiry_question": InquiryQuestion}.get(link.kind)
        if model is None:
            continue
        row = session.get(model, link.reference)
        if row is None or row.case_id != case.id:
            raise Problem(422, "evidence-not-found", "Evidence not found 证据来源不存在",
                          f"{link.kind} {link.reference} is not a record of this case", rule="evidence_belongs_to_case")


def add_commitment(session: Session, case_id: str, body: CommitmentCreate, source: str, *, inquiry_question_id: str | None = None) -> Commitment:
    case = get_case(session, case_id)
    selection_date = require_selected(case)
    require_open_case(case)
    if body.deadline < selection_date:
        raise deadline_before_selection(body.deadline, selection_date)
    _check_evidence(session, case, body.evidence)
    commitment = Commitment(
        case_id=case.id,
        problem=body.problem,
        evidence=[e.model_dump() for e in body.evidence],
        measure=body.measure,
        responsible_unit=body.responsible_unit,
        responsible_person=body.responsible_person,
        deadline=body.deadline,
        status="open",
        percent_complete=0,
        internal_note=body.internal_note,
        inquiry_question_id=inquiry_question_id,
    )
    session.add(commitment)
    session.flush()
    record(session, case, "commitment_added", f"新增整改承诺：{body.problem[:80]}（{body.deadline}前）", source,
           {"commitment_id": commitment.id})
    return commitment


def get_commitment(session: Session, commitment_id: str) -> Commitment:
    commitment = session.get(
        Commitment, commitment_id, options=[selectinload(Commitment.progress).selectinload(ProgressUpdate.attachments)]
    )
    if commitment is None:
        raise not_found("commitment", commitment_id)
    return commitment


def _require_unfinished(commitment: Commitment, action: str) -> None:
    if commitment.status in FINISHED_COMMITMENT_STATUSES:
        raise Problem(409, "commitment-finished", "Commitment finished 整改承诺已完成或已销号",
                      f"cannot {action}: the commitment is {commitment.status}",
                      rule="no_changes_after_done_or_closed", commitment_status=commitment.status)


def _case_of(session: Session, commitment: Commitment) -> EvaluationCase:
    case = session.get(EvaluationCase, commitment.case_id)
    require_open_case(case)
    return case


def store_attachment(root: Path, upload: AttachmentUpload, max_bytes: int) -> tuple[bytes, str, str]:
    """Write the content under root/ab/abcdef… (content-addressed); returns (content, sha256, relative path)."""
    try:
        content = base64.b64decode(upload.content_base64, validate=True)
    except (binascii.Error, ValueError):
        raise Problem(422, "attachment-not-base64", "Attachment not base64 附件内容不是有效的base64",
                      f"{upload.file_name}: content_base64 is not valid base64") from None
    if len(content) > max_bytes:
        raise Problem(422, "attachment-too-large", "Attachment too large 附件过大",
                      f"{upload.file_name} is {len(content)} bytes; at most {max_bytes}", max_bytes=max_bytes)
    digest = hashlib.sha256(content).hexdigest()
    relative = f"{digest[:2]}/{digest}"
    target = root / relative
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        os.replace(tmp, target)
    return content, digest, relative


def add_progress(session: Session, commitment_id: str, body: ProgressCreate, source: str, *, attachments_dir: Path, max_bytes: int) -> ProgressUpdate:
    commitment = get_commitment(session, commitment_id)
    _require_unfinished(commitment, "report progress")
    case = _case_of(session, commitment)
    if case.selection_date and body.reported_on < case.selection_date:
        raise Problem(422, "date-before-selection", "Date before selection 日期早于差额表决日期",
                      f"reported_on {body.reported_on} is before the selection date {case.selection_date}")
    stored = [(u, *store_attachment(attachments_dir, u, max_bytes)) for u in body.attachments]
    update = ProgressUpdate(commitment_id=commitment.id, reported_on=body.reported_on, text=body.text,
                            percent_complete=body.percent_complete, internal_note=body.internal_note)
    session.add(update)
    session.flush()
    for upload, content, digest, relative in stored:
        session.add(Attachment(progress_update_id=update.id, file_name=upload.file_name, content_type=upload.content_type,
                               size=len(content), sha256=digest, storage_path=relative))
    commitment.percent_complete = body.percent_complete
    commitment.status = "in_progress"
    commitment.updated_at = utcnow()
    record(session, case, "progress_reported", f"整改进展：{commitment.problem[:60]}，完成{body.percent_complete}%", source,
           {"commitment_id": commitment.id, "progress_id": update.id})
    session.flush()
    session.expire(update, ["attachments"])
    return update


def complete_commitment(session: Session, commitment_id: str, body: CommitmentComplete, source: str) -> Commitment:
    commitment = get_commitment(session, commitment_id)
    _require_unfinished(commitment, "complete it")
    case = _case_of(session, commitment)
    if case.selection_date and body.completed_on < case.selection_date:
        raise Problem(422, "date-before-selection", "Date before selection 日期早于差额表决日期",
                      f"completed_on {body.completed_on} is before the selection date {case.selection_date}")
    commitment.status = "done"
    commitment.percent_complete = 100
    commitment.completed_on = body.completed_on
    commitment.completion_evidence = body.evidence
    commitment.updated_at = utcnow()
    record(session, case, "commitment_done", f"整改承诺已完成：{commitment.problem[:80]}", source, {"commitment_id": commitment.id})
    return commitment


def close_commitment(session: Session, commitment_id: str, body: CommitmentCloseWithReason, source: str) -> Commitment:
    commitment = get_commitment(session, commitment_id)
    _require_unfinished(commitment, "close it")
    case = _case_of(session, commitment)
    commitment.status = "closed"
    commitment.close_reason = body.reason
    commitment.updated_at = utcnow()
    record(session, case, "commitment_closed", f"整改承诺销号：{commitment.problem[:60]}（{body.reason[:60]}）", source,
           {"commitment_id": commitment.id})
    return commitment


def list_commitments(session: Session, *, case_id: str | None, overdue: bool | None, limit: int, cursor: str | None,
                     department: str | None = None) -> Page[CommitmentOut]:
    stmt = select(Commitment)
    if department is not None:
        stmt = stmt.join(EvaluationCase, EvaluationCase.id == Commitment.case_id).where(EvaluationCase.department == department)
    if case_id:
        stmt = stmt.where(Commitment.case_id == case_id)
    on = today()
    if overdue is True:
        stmt = stmt.where(Commitment.deadline < on, Commitment.status.in_(OPEN_COMMITMENT_STATUSES))
    elif overdue is False:
        stmt = stmt.where((Commitment.deadline >= on) | Commitment.status.in_(FINISHED_COMMITMENT_STATUSES))
    return paginate(session, stmt, [Commitment.created_at, Commitment.id], limit=limit, cursor=cursor,
                    to_item=lambda c: commitment_out(c, on))


def commitment_fields(c: Commitment, on: dt.date | None = None) -> dict:
    return dict(
        id=c.id,
        case_id=c.case_id,
        problem=c.problem,
        evidence=c.evidence,
        measure=c.measure,
        responsible_unit=c.responsible_unit,
        responsible_person=c.responsible_person,
        deadline=c.deadline,
        status=c.status,
        status_label=COMMITMENT_STATUS_LABELS[c.status],
        percent_complete=c.percent_complete,
        completed_on=c.completed_on,
        completion_evidence=c.completion_evidence,
        close_reason=c.close_reason,
        internal_note=c.internal_note,
        inquiry_question_id=c.inquiry_question_id,
        overdue=is_overdue(c.deadline, c.status in FINISHED_COMMITMENT_STATUSES, on or today()),
        created_at=c.created_at,
        updated_at=c.updated_at,
    )


def commitment_out(c: Commitment, on: dt.date | None = None) -> CommitmentOut:
    return CommitmentOut(**commitment_fields(c, on))


def progress_out(p: ProgressUpdate) -> ProgressOut:
    return ProgressOut(
        id=p.id, commitment_id=p.commitment_id, reported_on=p.reported_on, text=p.text,
        percent_complete=p.percent_complete, internal_note=p.internal_note,
        attachments=[AttachmentOut.model_validate(a, from_attributes=True) for a in p.attachments], created_at=p.created_at,
    )


def commitment_detail(c: Commitment) -> CommitmentDetail:
    return CommitmentDetail(**commitment_fields(c), progress=[progress_out(p) for p in c.progress])


def attachment_file(session: Session, attachment_id: str, root: Path) -> tuple[Attachment, Path]:
    attachment = session.get(Attachment, attachment_id)
    if attachment is None:
        raise not_found("attachment", attachment_id)
    return attachment, root / attachment.storage_path
