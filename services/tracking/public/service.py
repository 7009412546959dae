"""The publishable view of cases (全程公开)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from services.tracking.cases.service import GRADE_LABELS, get_case, milestone_out
from services.tracking.commitments.service import COMMITMENT_STATUS_LABELS
from services.tracking.domain.escalation import ESCALATION_LABELS
from services.tracking.domain.follow_up import CASE_STAGE_LABELS
from services.tracking.domain.milestones import FINISHED_COMMITMENT_STATUSES, MILESTONE_LABELS, is_overdue
from services.tracking.models import (
    Commitment,
    EscalationStep,
    EvaluationCase,
    InterpellationMotion,
    InquiryQuestion,
    ProgressUpdate,
    TimelineEntry,
    WorkReport,
)
from services.tracking.public.schemas import (
    CaseStatus,
    LastChange,
    NextDeadline,
    PublicAttachment,
    PublicCase,
    PublicCaseDetail,
    PublicCommitment,
    PublicEscalationStep,
    PublicEvidence,
    PublicInquiryQuestion,
    PublicInterpellationMotion,
    PublicInvestigation,
    PublicMilestone,
    PublicRereport,
    PublicProgress,
    PublicResult,
    PublicTimelineEntry,
    PublicWorkReport,
)
from services.tracking.review.schemas import ASKER_TYPE_LABELS
from services.tracking.sources import today
from shared.web.pagination import Page, paginate


REREPORT_MODE_LABELS = {"inquiry_or_interpellation": "再次报告，接受询问或质询，再次满意度测评"}


def public_case(case: EvaluationCase) -> PublicCase:
    return PublicCase(**_case_fields(case))


def _case_fields(case: EvaluationCase) -> dict:
    return dict(
        id=case.id, department=case.department, evaluation_year=case.evaluation_year, batch=case.batch,
        selection_date=case.selection_date, status=case.status, stage=case.stage,
        stage_label=CASE_STAGE_LABELS.get(case.stage, case.stage), latest_grade=case.latest_grade,
        latest_grade_label=GRADE_LABELS.get(case.latest_grade) if case.latest_grade else None, updated_at=case.updated_at,
    )


def list_public_cases(session: Session, *, year: int | None, department: str | None, limit: int, cursor: str | None) -> Page[PublicCase]:
    stmt = select(EvaluationCase)
    if year:
        stmt = stmt.where(EvaluationCase.evaluation_year == year)
    if department:
        stmt = stmt.where(EvaluationCase.department == department)
    return paginate(session, stmt, [EvaluationCase.opened_at, EvaluationCase.id], limit=limit, cursor=cursor, to_item=public_case)


def _commitments(session: Session, case_id: str) -> list[Commitment]:
    return list(session.scalars(
        select(Commitment).where(Commitment.case_id == case_id).order_by(Commitment.created_at, Commitment.id)
        .options(selectinload(Commitment.progress).selectinload(ProgressUpdate.attachments))
    ))


def public_commitment(c: Commitment, on: dt.date) -> PublicCommitment:
    return PublicCommitment(
        id=c.id, problem=c.problem,
        evidence=[PublicEvidence(kind=e["kind"], label=e.get("label") or "") for e in c.evidence],
        measure=c.measure, responsible_unit=c.responsible_unit, deadline=c.deadline, status=c.status,
        status_label=COMMITMENT_STATUS_LABELS[c.status], percent_complete=c.percent_complete, completed_on=c.completed_on,
        completion_evidence=c.completion_evidence, close_reason=c.close_reason,
        overdue=is_overdue(c.deadline, c.status in FINISHED_COMMITMENT_STATUSES, on),
        progress=[
            PublicProgress(reported_on=p.reported_on, text=p.text, percent_complete=p.percent_complete,
                           attachments=[PublicAttachment(id=a.id, file_name=a.file_name, size=a.size, sha256=a.sha256) for a in p.attachments])
            for p in c.progress
        ],
    )


def public_case_detail(session: Session, case_id: str) -> PublicCaseDetail:
    case = get_case(session, case_id)
    on = today()
    graded = session.scalars(select(TimelineEntry).where(TimelineEntry.case_id == case.id, TimelineEntry.kind == "graded")
                             .order_by(TimelineEntry.at, TimelineEntry.id))
    results = []
    for entry in graded:
        detail = entry.detail or {}
        meeting_date = detail.get("meeting_date")
        results.append(PublicResult(vote_round=detail.get("vote_round"), meeting_date=dt.date.fromisoformat(meeting_date) if meeting_date else None,
                                    grade=detail["grade"], grade_label=GRADE_LABELS[detail["grade"]]))
    reports = session.scalars(select(WorkReport).where(WorkReport.case_id == case.id).order_by(WorkReport.meeting_date, WorkReport.id))
    questions = session.scalars(select(InquiryQuestion).where(InquiryQuestion.case_id == case.id)
                                .order_by(InquiryQuestion.created_at, InquiryQuestion.id))
    steps = session.scalars(select(EscalationStep).where(EscalationStep.case_id == case.id).order_by(EscalationStep.decided_at, EscalationStep.id))
    return PublicCaseDetail(
        **_case_fields(case),
        milestones=[PublicMilestone(**milestone_out(m, on).model_dump(exclude={"document_url"})) for m in sorted(case.milestones, key=lambda m: (m.due_on, m.kind))],
        commitments=[public_commitment(c, on) for c in _commitments(session, case.id)],
        results=results,
        work_reports=[PublicWorkReport(title=r.title, submitted_on=r.submitted_on, meeting_date=r.meeting_date, document_url=r.document_url) for r in reports],
        inquiry=[
            PublicInquiryQuestion(
                meeting_date=q.meeting_date,
                asker=ASKER_TYPE_LABELS[q.asker_type] if q.asker_type == "citizen_representative" else q.asker,
                asker_type=q.asker_type, asker_type_label=ASKER_TYPE_LABELS[q.asker_type], question=q.question,
                answering_official=q.answering_official, answer=q.answer, promised_action=q.promised_action,
                promised_deadline=q.promised_deadline,
            )
            for q in questions
        ],
        escalation=[PublicEscalationStep(measure=s.measure, measure_label=ESCALATION_LABELS[s.measure], decided_by=s.decided_by,
                                         decided_at=s.decided_at) for s in steps],
        investigations=[PublicInvestigation(unsatisfied_round=i.unsatisfied_round, research_group=i.research_group,
                                            status=i.status, due_on=i.due_on) for i in case.investigations],
        rereports=[PublicRereport(vote_round=r.vote_round, mode=r.mode, mode_label=REREPORT_MODE_LABELS.get(r.mode, r.mode),
                                  after_meeting_date=r.after_meeting_date) for r in case.rereports],
        interpellation_motions=[
            PublicInterpellationMotion(subject=m.subject, sponsors=len(m.sponsors), filed_on=m.filed_on,
                                       answered_on=m.answered_on, answer=m.answer)
            for m in session.scalars(select(InterpellationMotion).where(InterpellationMotion.case_id == case.id)
                                     .order_by(InterpellationMotion.filed_on, InterpellationMotion.id))
        ],
    )


def case_status(session: Session, case_id: str) -> CaseStatus:
    case = get_case(session, case_id)
    on = today()
    pending: list[NextDeadline] = [
        NextDeadline(what=f"milestone:{m.kind}", label=MILESTONE_LABELS[m.kind], due_on=m.due_on, overdue=is_overdue(m.due_on, False, on))
        for m in case.milestones if m.status != "done"
    ]
    open_commitments = session.scalars(select(Commitment).where(
        Commitment.case_id == case.id, Commitment.status.not_in(FINISHED_COMMITMENT_STATUSES)))
    pending += [
        NextDeadline(what=f"commitment:{c.id}", label=f"整改承诺：{c.problem[:40]}", due_on=c.deadline, overdue=is_overdue(c.deadline, False, on))
        for c in open_commitments
    ]
    if case.status == "closed":
        pending = []
    pending.sort(key=lambda d: (d.due_on, d.what))
    last = case.timeline[-1] if case.timeline else None
    return CaseStatus(
        case_id=case.id, stage=case.stage, stage_label=CASE_STAGE_LABELS.get(case.stage, case.stage), status=case.status,
        latest_grade=case.latest_grade, next_deadline=pending[0] if pending else None,
        overdue_count=sum(1 for d in pending if d.overdue),
        last_change=LastChange(at=last.at, kind=last.kind, summary=last.summary) if last else None,
    )


def public_timeline(session: Session, case_id: str, *, limit: int, cursor: str | None) -> Page[PublicTimelineEntry]:
    get_case(session, case_id)
    return paginate(session, select(TimelineEntry).where(TimelineEntry.case_id == case_id), [TimelineEntry.at, TimelineEntry.id],
                    limit=limit, cursor=cursor,
                    to_item=lambda t: PublicTimelineEntry(at=t.at, kind=t.kind, summary=t.summary, source=t.source))
