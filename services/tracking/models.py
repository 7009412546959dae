"""Tracking's tables: evaluation cases, unsatisfied rounds, investigations, re-reports, timeline."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.db import IdColumnType, UTCDateTime, new_id, new_metadata
from shared.messaging.events import utcnow, topics_produced_by
from shared.messaging.inbox import InboxMixin
from shared.messaging.outbox import OutboxMixin
from shared.security.tables import ApiKeyMixin, AuditMixin, IdempotencyKeyMixin, SecurityModels
from shared.messaging.webhooks import WebhookDeliveryMixin, WebhookModels, WebhookSubscriptionMixin


class Base(DeclarativeBase):
    metadata = new_metadata()


class EvaluationCase(Base):
    """One department's special work evaluation in one year (专项工作评议)."""

    __tablename__ = "evaluation_cases"
    __table_args__ = (UniqueConstraint("department", "evaluation_year"),)

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    department: Mapped[str] = mapped_column(String(200))
    evaluation_year: Mapped[int] = mapped_column(Integer, index=True)
    status: Mapped[str] = mapped_column(String(30), default="open")
    stage: Mapped[str] = mapped_column(String(40), default="rectification")
    latest_grade: Mapped[str | None] = mapped_column(String(30))
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The competitive selection that chose the department (差额投票表决).
    selection_date: Mapped[dt.date | None] = mapped_column(Date)
    selection_ballot_id: Mapped[str | None] = mapped_column(String(36))
    batch: Mapped[int | None] = mapped_column(Integer)
    complex_case: Mapped[bool] = mapped_column(Boolean, default=False)
    review_meeting_date: Mapped[dt.date | None] = mapped_column(Date)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[str | None] = mapped_column(String(200))

    unsatisfied_rounds: Mapped[list[UnsatisfiedRound]] = relationship(order_by="UnsatisfiedRound.round", back_populates="case")
    investigations: Mapped[list[Investigation]] = relationship(order_by="Investigation.opened_at", back_populates="case")
    rereports: Mapped[list[Rereport]] = relationship(order_by="Rereport.vote_round", back_populates="case")
    timeline: Mapped[list[TimelineEntry]] = relationship(order_by="TimelineEntry.at", back_populates="case")
    milestones: Mapped[list[Milestone]] = relationship(order_by="Milestone.due_on")


class UnsatisfiedRound(Base):
    __tablename__ = "unsatisfied_rounds"
    __table_args__ = (UniqueConstraint("case_id", "round"),)

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("evaluation_cases.id"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    vote_round: Mapped[int] = mapped_column(Integer)
    ballot_id: Mapped[str] = mapped_column(String(36))
    meeting_id: Mapped[str] = mapped_column(String(36))
    meeting_date: Mapped[dt.date] = mapped_column(Date)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[EvaluationCase] = relationship(back_populates="unsatisfied_rounds")


class Investigation(Base):
    """A special investigation (专题调研) by the research group after a 不满意."""

    __tablename__ = "investigations"

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("evaluation_cases.id"), index=True)
    unsatisfied_round: Mapped[int] = mapped_column(Integer)
    research_group: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="open")
    due_on: Mapped[dt.date] = mapped_column(Date)
    findings: Mapped[str | None] = mapped_column(Text)
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[EvaluationCase] = relationship(back_populates="investigations")


class Rereport(Base):
    """A re-report, inquiry or interpellation, and re-vote at the next meeting."""

    __tablename__ = "rereports"
    __table_args__ = (UniqueConstraint("case_id", "vote_round"),)

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("evaluation_cases.id"), index=True)
    vote_round: Mapped[int] = mapped_column(Integer)
    mode: Mapped[str] = mapped_column(String(40))
    after_meeting_id: Mapped[str] = mapped_column(String(36))
    after_meeting_date: Mapped[dt.date] = mapped_column(Date)
    investigation_id: Mapped[str | None] = mapped_column(ForeignKey("investigations.id"))
    event_id: Mapped[str] = mapped_column(String(36))
    scheduled_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[EvaluationCase] = relationship(back_populates="rereports")


class TimelineEntry(Base):
    """Every state change of a case, with its source (an event id or an HTTP caller)."""

    __tablename__ = "timeline_entries"

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("evaluation_cases.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(50))
    summary: Mapped[str] = mapped_column(String(500))
    source: Mapped[str] = mapped_column(String(200))
    detail: Mapped[dict | None] = mapped_column(JSON)

    case: Mapped[EvaluationCase] = relationship(back_populates="timeline")


class Milestone(Base):
    """A dated step generated from the plan: rectification plan, report, review meeting."""

    __tablename__ = "milestones"
    __table_args__ = (UniqueConstraint("case_id", "kind"),)

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("evaluation_cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    due_on: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    completed_on: Mapped[dt.date | None] = mapped_column(Date)
    document_url: Mapped[str | None] = mapped_column(String(1000))


class Commitment(Base):
    """A rectification commitment (整改承诺): problem, measure, who, by when."""

    __tablename__ = "commitments"

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("evaluation_cases.id"), index=True)
    problem: Mapped[str] = mapped_column(Text)
    evidence: Mapped[list] = mapped_column(JSON, default=list)
    measure: Mapped[str] = mapped_column(Text)
    responsible_unit: Mapped[str] = mapped_column(String(200))
    responsible_person: Mapped[str] = mapped_column(String(100))
    deadline: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="open")
    percent_complete: Mapped[int] = mapped_column(Integer, default=0)
    completed_on: Mapped[dt.date | None] = mapped_column(Date)
    completion_evidence: Mapped[str | None] = mapped_column(Text)
    close_reason: Mapped[str | None] = mapped_column(Text)
    internal_note: Mapped[str | None] = mapped_column(Text)
    inquiry_question_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    progress: Mapped[list[ProgressUpdate]] = relationship(order_by="ProgressUpdate.created_at", back_populates="commitment")


class ProgressUpdate(Base):
    __tablename__ = "progress_updates"

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    commitment_id: Mapped[str] = mapped_column(ForeignKey("commitments.id"), index=True)
    reported_on: Mapped[dt.date] = mapped_column(Date)
    text: Mapped[str] = mapped_column(Text)
    percent_complete: Mapped[int] = mapped_column(Integer)
    internal_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    commitment: Mapped[Commitment] = relationship(back_populates="progress")
    attachments: Mapped[list[Attachment]] = relationship(order_by="Attachment.created_at")


class Attachment(Base):
    """A file attached to a progress update; the content lives on disk, named by its SHA-256."""

    __tablename__ = "attachments"

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    progress_update_id: Mapped[str] = mapped_column(ForeignKey("progress_updates.id"), index=True)
    file_name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_path: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class WorkReport(Base):
    """The special work report (专项工作报告) heard at a review meeting."""

    __tablename__ = "work_reports"

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("evaluation_cases.id"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    submitted_on: Mapped[dt.date] = mapped_column(Date)
    meeting_date: Mapped[dt.date] = mapped_column(Date)
    document_url: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class InquiryQuestion(Base):
    """One question of a special inquiry (专题询问) and its answer."""

    __tablename__ = "inquiry_questions"

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("evaluation_cases.id"), index=True)
    meeting_date: Mapped[dt.date] = mapped_column(Date)
    asker: Mapped[str] = mapped_column(String(100))
    asker_type: Mapped[str] = mapped_column(String(40))
    question: Mapped[str] = mapped_column(Text)
    answering_official: Mapped[str] = mapped_column(String(200))
    answer: Mapped[str] = mapped_column(Text)
    promised_action: Mapped[str | None] = mapped_column(Text)
    promised_deadline: Mapped[dt.date | None] = mapped_column(Date)
    commitment_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class EscalationStep(Base):
    """A measure after a second 不满意 (检查, 约谈, 质询案, 处分建议), with who decided and when."""

    __tablename__ = "escalation_steps"
    __table_args__ = (UniqueConstraint("case_id", "unsatisfied_round", "measure"),)

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("evaluation_cases.id"), index=True)
    unsatisfied_round: Mapped[int] = mapped_column(Integer)
    measure: Mapped[str] = mapped_column(String(40))
    decided_by: Mapped[str] = mapped_column(String(200))
    decided_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    source: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)


class InterpellationMotion(Base):
    """An interpellation motion (质询案): at least 5 members sponsor it; the department answers."""

    __tablename__ = "interpellation_motions"

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("evaluation_cases.id"), index=True)
    escalation_step_id: Mapped[str | None] = mapped_column(ForeignKey("escalation_steps.id"))
    subject: Mapped[str] = mapped_column(Text)
    sponsors: Mapped[list] = mapped_column(JSON)
    filed_on: Mapped[dt.date] = mapped_column(Date)
    answer: Mapped[str | None] = mapped_column(Text)
    answered_by: Mapped[str | None] = mapped_column(String(200))
    answered_on: Mapped[dt.date | None] = mapped_column(Date)


class DeputyMotion(Base):
    """A deputies' motion (议案) assigned to a unit for handling (议案办理)."""

    __tablename__ = "deputy_motions"

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    number: Mapped[str] = mapped_column(String(50), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    sponsors: Mapped[list] = mapped_column(JSON)
    assigned_unit: Mapped[str] = mapped_column(String(200))
    assigned_on: Mapped[dt.date] = mapped_column(Date)
    complex_case: Mapped[bool] = mapped_column(Boolean, default=False)
    reply_due_on: Mapped[dt.date] = mapped_column(Date)
    extension_approved_by: Mapped[str | None] = mapped_column(String(200))
    extension_reason: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="assigned")
    reply: Mapped[str | None] = mapped_column(Text)
    replied_on: Mapped[dt.date | None] = mapped_column(Date)
    result_code: Mapped[str | None] = mapped_column(String(1))
    feedback: Mapped[str | None] = mapped_column(String(30))
    feedback_on: Mapped[dt.date | None] = mapped_column(Date)
    redo_count: Mapped[int] = mapped_column(Integer, default=0)
    history: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditCase(Base):
    """Rectification of the problems an audit found (审计查出问题整改)."""

    __tablename__ = "audit_cases"

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    audit_year: Mapped[int] = mapped_column(Integer)
    audited_unit: Mapped[str] = mapped_column(String(200))
    report_title: Mapped[str] = mapped_column(String(300))
    received_on: Mapped[dt.date] = mapped_column(Date)
    report_due_on: Mapped[dt.date] = mapped_column(Date)
    report_submitted_on: Mapped[dt.date | None] = mapped_column(Date)
    report_summary: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="open")
    closed_by: Mapped[str | None] = mapped_column(String(200))
    history: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    findings: Mapped[list[AuditFinding]] = relationship(order_by="AuditFinding.created_at")


class AuditFinding(Base):
    __tablename__ = "audit_findings"

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    audit_case_id: Mapped[str] = mapped_column(ForeignKey("audit_cases.id"), index=True)
    finding: Mapped[str] = mapped_column(Text)
    measure: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="open")
    rectified_on: Mapped[dt.date | None] = mapped_column(Date)
    evidence: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PlanTerms(Base):
    """What the year plan (kept by scoring, one per year) says tracking must apply."""

    __tablename__ = "plan_terms"

    evaluation_year: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[str] = mapped_column(String(36))
    escalation_policy: Mapped[str] = mapped_column(String(40))
    # {"1": 8, "2": 10}: the month each batch's reports are heard
    review_months: Mapped[dict] = mapped_column(JSON, default=dict)
    source: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


# Tables declared by shared mixins, one line each.
class OutboxMessage(OutboxMixin, Base): pass
class InboxMessage(InboxMixin, Base): pass
class ApiKey(ApiKeyMixin, Base): pass
class IdempotencyKey(IdempotencyKeyMixin, Base): pass
class AuditEntry(AuditMixin, Base): pass

SECURITY_MODELS = SecurityModels(api_key=ApiKey, idempotency_key=IdempotencyKey, audit_entry=AuditEntry)


# Tables declared by shared mixins, one line each.
class WebhookSubscription(WebhookSubscriptionMixin, Base): pass
class WebhookDelivery(WebhookDeliveryMixin, Base): pass

WEBHOOKS = WebhookModels(subscription=WebhookSubscription, delivery=WebhookDelivery, topics=topics_produced_by("tracking"))
