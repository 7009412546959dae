from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from shared.text import Date, DepartmentName, PersonName, RequestModel, name, prose, text


EvidenceKind = Literal["hotline_category", "investigation_finding", "inquiry_question", "other"]


class EvidenceLink(RequestModel):
    """What shows the problem exists: a 12345 category, a finding, an inquiry question."""

    kind: EvidenceKind
    reference: text(200, min_length=1) = Field(description="category code, or the investigation / question id")
    label: text(300) = ""


class CommitmentCreate(RequestModel):
    problem: prose(5000)
    evidence: list[EvidenceLink] = Field(default_factory=list, max_length=50)
    measure: prose(5000)
    responsible_unit: DepartmentName
    responsible_person: PersonName
    deadline: Date
    internal_note: prose(5000, min_length=0) | None = Field(None, description="for the committee's staff; never published")


class AttachmentUpload(RequestModel):
    file_name: name(255)
    content_type: text(100, min_length=1) = "application/octet-stream"
    # Bounded by the body's cap (TRACKING_PROGRESS_BODY_MAX_BYTES); the decoded file has its own
    # (TRACKING_ATTACHMENT_MAX_BYTES); what is not base64 is refused as attachment-not-base64.
    content_base64: str = Field(min_length=1)


class ProgressCreate(RequestModel):
    reported_on: Date
    text: prose(10000)
    percent_complete: int = Field(ge=0, le=100)
    attachments: list[AttachmentUpload] = Field(default_factory=list, max_length=20)
    internal_note: prose(5000, min_length=0) | None = None


class CommitmentComplete(RequestModel):
    completed_on: Date
    evidence: prose(10000) = Field(description="what shows the measure is done")


class CommitmentCloseWithReason(RequestModel):
    reason: prose(5000)


class AttachmentOut(BaseModel):
    id: str
    file_name: str
    content_type: str
    size: int
    sha256: str
    created_at: dt.datetime


class ProgressOut(BaseModel):
    id: str
    commitment_id: str
    reported_on: dt.date
    text: str
    percent_complete: int
    internal_note: str | None
    attachments: list[AttachmentOut]
    created_at: dt.datetime


class CommitmentOut(BaseModel):
    id: str
    case_id: str
    problem: str
    evidence: list[EvidenceLink]
    measure: str
    responsible_unit: str
    responsible_person: str
    deadline: dt.date
    status: str
    status_label: str
    percent_complete: int
    completed_on: dt.date | None
    completion_evidence: str | None
    close_reason: str | None
    internal_note: str | None
    inquiry_question_id: str | None
    overdue: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class CommitmentDetail(CommitmentOut):
    progress: list[ProgressOut]
