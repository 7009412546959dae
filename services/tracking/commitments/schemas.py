from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

EvidenceKind = Literal["hotline_category", "investigation_finding", "inquiry_question", "other"]


class EvidenceLink(BaseModel):
    """What shows the problem exists: a 12345 category, a finding, an inquiry question."""

    model_config = ConfigDict(extra="forbid")

    kind: EvidenceKind
    reference: str = Field(min_length=1, max_length=200, description="category code, or the investigation / question id")
    label: str = Field("", max_length=300)


class CommitmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    problem: str = Field(min_length=1, max_length=5000)
    evidence: list[EvidenceLink] = Field(default_factory=list, max_length=50)
    measure: str = Field(min_length=1, max_length=5000)
    responsible_unit: str = Field(min_length=1, max_length=200)
    responsible_person: str = Field(min_length=1, max_length=100)
    deadline: dt.date
    internal_note: str | None = Field(None, max_length=5000, description="for the committee's staff; never published")


class AttachmentUpload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file_name: str = Field(min_length=1, max_length=255)
    content_type: str = Field("application/octet-stream", max_length=100)
    content_base64: str = Field(min_length=1)


class ProgressCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reported_on: dt.date
    text: str = Field(min_length=1, max_length=10000)
    percent_complete: int = Field(ge=0, le=100)
    attachments: list[AttachmentUpload] = Field(default_factory=list, max_length=20)
    internal_note: str | None = Field(None, max_length=5000)


class CommitmentComplete(BaseModel):
    model_config = ConfigDict(extra="forbid")

    completed_on: dt.date
    evidence: str = Field(min_length=1, max_length=10000, description="what shows the measure is done")


class CommitmentCloseWithReason(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=5000)


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
