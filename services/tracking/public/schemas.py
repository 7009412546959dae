"""What the public may read: no internal notes, no personal data of citizens,
no named officials below the responsible unit, no storage details."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field



class PublicMilestone(BaseModel):
    kind: str = Field(description="rectification_plan (提交整改方案), rectification_report (提交整改情况报告) or "
                                  "review_meeting_report (常委会会议听取专项工作报告); public")
    label: str = Field(description="the milestone in Chinese; public")
    due_on: dt.date = Field(description="due date, YYYY-MM-DD; public")
    status: str = Field(description="pending or done; public")
    completed_on: dt.date | None = Field(description="when it was done; null while pending; public")
    overdue: bool = Field(description="past due and not done; public")


class PublicAttachment(BaseModel):
    id: str = Field(description="download it from /v1/public/attachments/{id}")
    file_name: str = Field(description="the file's name; public")
    size: int = Field(description="bytes; public")
    sha256: str = Field(description="SHA-256 of the content, hex; public")


class PublicProgress(BaseModel):
    reported_on: dt.date = Field(description="the report's date; public")
    text: str = Field(description="what was done; public")
    percent_complete: int = Field(description="0-100; public")
    attachments: list[PublicAttachment] = Field(description="its files; public")


class PublicEvidence(BaseModel):
    kind: str = Field(description="hotline_category, investigation_finding, inquiry_question or other; public")
    label: str = Field(description="what it reads as; public")


class PublicCommitment(BaseModel):
    id: str = Field(description="the commitment's id (UUID); public")
    problem: str = Field(description="the problem; public")
    evidence: list[PublicEvidence] = Field(description="what shows the problem; public")
    measure: str = Field(description="the measure; public")
    responsible_unit: str = Field(description="the unit responsible (never a person); public")
    deadline: dt.date = Field(description="due date, YYYY-MM-DD; public")
    status: str = Field(description="open (未开始), in_progress (整改中), done (已完成) or closed (已销号); public")
    status_label: str = Field(description="the status in Chinese; public")
    percent_complete: int = Field(description="0-100; public")
    completed_on: dt.date | None = Field(description="when it was done; null until then; public")
    completion_evidence: str | None = Field(description="what shows it done; null until then; public")
    close_reason: str | None = Field(description="why it was closed (销号); null if not; public")
    overdue: bool = Field(description="past the deadline and not finished; public")
    progress: list[PublicProgress] = Field(description="every progress report, oldest first; public")


class PublicResult(BaseModel):
    vote_round: int | None = Field(description="1, or 2 for the re-vote; public")
    meeting_date: dt.date | None = Field(description="the date of the sitting; public")
    grade: str = Field(description="satisfied (满意), basically_satisfied (基本满意) or unsatisfied (不满意); public")
    grade_label: str = Field(description="the grade in Chinese; public")


class PublicWorkReport(BaseModel):
    title: str = Field(description="the report's title; public")
    submitted_on: dt.date = Field(description="when it was submitted; public")
    meeting_date: dt.date = Field(description="the review meeting; public")
    document_url: str = Field(description="the report's document; public")


class PublicInquiryQuestion(BaseModel):
    meeting_date: dt.date = Field(description="the inquiry's meeting; public")
    asker: str = Field(description="who asked (a citizen representative by role only); public")  # citizen representatives are shown by their role only
    asker_type: str = Field(description="committee_member (常委会组成人员), npc_deputy (人大代表) or citizen_representative "
                                        "(市民代表); public")
    asker_type_label: str = Field(description="the asker's type in Chinese; public")
    question: str = Field(description="the question; public")
    answering_official: str = Field(description="who answered, by office; public")
    answer: str = Field(description="the answer; public")
    promised_action: str | None = Field(description="the action promised; null if none; public")
    promised_deadline: dt.date | None = Field(description="its deadline; null if none; public")


class PublicEscalationStep(BaseModel):
    measure: str = Field(description="written_self_examination (书面检查), admonition_talk (约谈), interpellation_motion "
                                     "(质询案) or disciplinary_recommendation (建议有关机关依法处理); public")
    measure_label: str = Field(description="the measure in Chinese; public")
    decided_by: str = Field(description="who decided it; public")
    decided_at: dt.datetime = Field(description="when (ISO 8601, UTC); public")


class PublicInvestigation(BaseModel):
    unsatisfied_round: int = Field(description="the 不满意 round that opened it; public")
    research_group: str = Field(description="the research group; public")
    status: str = Field(description="open or completed; public")
    due_on: dt.date = Field(description="when the findings are due (the findings are never published); public")


class PublicRereport(BaseModel):
    vote_round: int = Field(description="the round of the re-vote; public")
    mode: str = Field(description="inquiry_or_interpellation, inquiry (询问) or interpellation (质询), at the "
                                  "re-report; public")
    mode_label: str = Field(description="the mode in Chinese; public")
    after_meeting_date: dt.date = Field(description="the meeting of the 不满意 vote; the re-report goes to the next; "
                                                    "public")


class PublicInterpellationMotion(BaseModel):
    subject: str = Field(description="what it asks; public")
    sponsors: int = Field(description="how many members sponsored it (5 or more)")
    filed_on: dt.date = Field(description="when it was filed; public")
    answered_on: dt.date | None = Field(description="when it was answered; null until then; public")
    answer: str | None = Field(description="the answer; null until then; public")


class PublicCase(BaseModel):
    id: str = Field(description="the case's id (UUID); public")
    department: str = Field(description="the department evaluated; public")
    evaluation_year: int = Field(description="the evaluation year; public")
    batch: int | None = Field(description="the plan's batch; null if none; public")
    selection_date: dt.date | None = Field(description="the date of the selection meeting; public")
    status: str = Field(description="open or closed; public")
    stage: str = Field(description="rectification (整改中), investigation (专题调研中), awaiting_rereport (待再次报告和表决), "
                                   "escalated (不满意后问责处理中) or closed (已结案); public")
    stage_label: str = Field(description="the stage in Chinese; public")
    latest_grade: str | None = Field(description="the latest satisfaction grade scoring gave (satisfied, "
                                                 "basically_satisfied, unsatisfied); null before the first vote; "
                                                 "public")
    latest_grade_label: str | None = Field(description="the grade in Chinese; null before the first vote; public")
    updated_at: dt.datetime = Field(description="the last change (ISO 8601, UTC); public")


class PublicCaseDetail(PublicCase):
    milestones: list[PublicMilestone] = Field(description="the milestones; public")
    commitments: list[PublicCommitment] = Field(description="the commitments with their progress; public")
    results: list[PublicResult] = Field(description="every satisfaction vote's grade; public")
    work_reports: list[PublicWorkReport] = Field(description="the special work reports; public")
    inquiry: list[PublicInquiryQuestion] = Field(description="the special inquiry's questions; public")
    escalation: list[PublicEscalationStep] = Field(description="the escalation steps; public")
    investigations: list[PublicInvestigation] = Field(description="专题调研 after a 不满意")
    rereports: list[PublicRereport] = Field(description="再次报告、询问或质询并再次测评")
    interpellation_motions: list[PublicInterpellationMotion] = Field(description="质询案 and their answers")


class NextDeadline(BaseModel):
    what: str = Field(description="milestone:<kind> or commitment:<id>; public")
    label: str = Field(description="what is due, in Chinese; public")
    due_on: dt.date = Field(description="due date, YYYY-MM-DD; public")
    overdue: bool = Field(description="already past; public")


class LastChange(BaseModel):
    at: dt.datetime = Field(description="when (ISO 8601, UTC); public")
    kind: str = Field(description="what changed; public")
    summary: str = Field(description="the change in Chinese; public")


class CaseStatus(BaseModel):
    """What a mobile client polls: small, and cached by ETag."""

    case_id: str = Field(description="the case; public")
    stage: str = Field(description="rectification (整改中), investigation (专题调研中), awaiting_rereport (待再次报告和表决), "
                                   "escalated (不满意后问责处理中) or closed (已结案); public")
    stage_label: str = Field(description="the stage in Chinese; public")
    status: str = Field(description="open or closed; public")
    latest_grade: str | None = Field(description="the latest satisfaction grade scoring gave (satisfied, "
                                                 "basically_satisfied, unsatisfied); null before the first vote; "
                                                 "public")
    next_deadline: NextDeadline | None = Field(description="the nearest milestone or commitment not done; null if "
                                                           "none; public")
    overdue_count: int = Field(description="milestones and commitments overdue; public")
    last_change: LastChange | None = Field(description="the latest timeline entry; null if none; public")


class PublicTimelineEntry(BaseModel):
    at: dt.datetime = Field(description="when (ISO 8601, UTC); public")
    kind: str = Field(description="what changed; public")
    summary: str = Field(description="the change in Chinese; public")
    source: str = Field(description="where the change came from: `http:<method> <path> request_id=<id>` for a "
                                    "request, `event:<event_id>` for a handled event; public")
