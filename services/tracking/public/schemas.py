"""What the public may read: no internal notes, no personal data of citizens,
no named officials below the responsible unit, no storage details."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field



class PublicMilestone(BaseModel):
    kind: str
    label: str
    due_on: dt.date
    status: str
    completed_on: dt.date | None
    overdue: bool


class PublicAttachment(BaseModel):
    id: str = Field(description="download it from /v1/public/attachments/{id}")
    file_name: str
    size: int
    sha256: str


class PublicProgress(BaseModel):
    reported_on: dt.date
    text: str
    percent_complete: int
    attachments: list[PublicAttachment]


class PublicEvidence(BaseModel):
    kind: str
    label: str


class PublicCommitment(BaseModel):
    id: str
    problem: str
    evidence: list[PublicEvidence]
    measure: str
    responsible_unit: str
    deadline: dt.date
    status: str
    status_label: str
    percent_complete: int
    completed_on: dt.date | None
    completion_evidence: str | None
    close_reason: str | None
    overdue: bool
    progress: list[PublicProgress]


class PublicResult(BaseModel):
    vote_round: int | None
    meeting_date: dt.date | None
    grade: str
    grade_label: str


class PublicWorkReport(BaseModel):
    title: str
    submitted_on: dt.date
    meeting_date: dt.date
    document_url: str


class PublicInquiryQuestion(BaseModel):
    meeting_date: dt.date
    asker: str  # citizen representatives are shown by their role only
    asker_type: str
    asker_type_label: str
    question: str
    answering_official: str
    answer: str
    promised_action: str | None
    promised_deadline: dt.date | None


class PublicEscalationStep(BaseModel):
    measure: str
    measure_label: str
    decided_by: str
    decided_at: dt.datetime


class PublicInvestigation(BaseModel):
    unsatisfied_round: int
    research_group: str
    status: str
    due_on: dt.date


class PublicRereport(BaseModel):
    vote_round: int
    mode: str
    mode_label: str
    after_meeting_date: dt.date


class PublicInterpellationMotion(BaseModel):
    subject: str
    sponsors: int = Field(description="how many members sponsored it (5 or more)")
    filed_on: dt.date
    answered_on: dt.date | None
    answer: str | None


class PublicCase(BaseModel):
    id: str
    department: str
    evaluation_year: int
    batch: int | None
    selection_date: dt.date | None
    status: str
    stage: str
    stage_label: str
    latest_grade: str | None
    latest_grade_label: str | None
    updated_at: dt.datetime


class PublicCaseDetail(PublicCase):
    milestones: list[PublicMilestone]
    commitments: list[PublicCommitment]
    results: list[PublicResult]
    work_reports: list[PublicWorkReport]
    inquiry: list[PublicInquiryQuestion]
    escalation: list[PublicEscalationStep]
    investigations: list[PublicInvestigation] = Field(description="专题调研 after a 不满意")
    rereports: list[PublicRereport] = Field(description="再次报告、询问或质询并再次测评")
    interpellation_motions: list[PublicInterpellationMotion] = Field(description="质询案 and their answers")


class NextDeadline(BaseModel):
    what: str
    label: str
    due_on: dt.date
    overdue: bool


class LastChange(BaseModel):
    at: dt.datetime
    kind: str
    summary: str


class CaseStatus(BaseModel):
    """What a mobile client polls: small, and cached by ETag."""

    case_id: str
    stage: str
    stage_label: str
    status: str
    latest_grade: str | None
    next_deadline: NextDeadline | None
    overdue_count: int
    last_change: LastChange | None


class PublicTimelineEntry(BaseModel):
    at: dt.datetime
    kind: str
    summary: str
    source: str
