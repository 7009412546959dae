"""Review meeting records: the special work report and the special inquiry."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.tracking.cases.service import get_case, record, require_open_case, require_selected
from services.tracking.commitments.schemas import CommitmentCreate, EvidenceLink
from services.tracking.commitments.service import add_commitment
from services.tracking.models import InquiryQuestion, Milestone, WorkReport
from services.tracking.review.schemas import (
    ASKER_TYPE_LABELS,
    InquiryQuestionCreate,
    InquiryQuestionOut,
    WorkReportCreate,
    WorkReportOut,
)
from shared.web.pagination import Page, paginate
from shared.web.problems import Problem


def _not_before_selection(case, day, field: str) -> None:
    selection_date = require_selected(case)
    if day < selection_date:
        raise Problem(422, "date-before-selection", "Date before selection 日期早于差额表决日期",
                      f"{field} {day} is before the selection date {selection_date}")


def add_work_report(session: Session, case_id: str, body: WorkReportCreate, source: str) -> WorkReport:
    case = get_case(session, case_id)
    require_open_case(case)
    _not_before_selection(case, body.meeting_date, "meeting_date")
    if body.submitted_on > body.meeting_date:
        raise Problem(422, "report-after-meeting", "Report after meeting 报告提交日期晚于会议日期",
                      f"submitted_on {body.submitted_on} is after the meeting on {body.meeting_date}")
    report = WorkReport(case_id=case.id, **body.model_dump())
    session.add(report)
    # Hearing the report at the review meeting fulfils that milestone.
    milestone = session.scalars(select(Milestone).where(Milestone.case_id == case.id, Milestone.kind == "review_meeting_report")).first()
    if milestone is not None and milestone.status == "pending":
        milestone.status = "done"
        milestone.completed_on = body.meeting_date
        milestone.document_url = body.document_url
    record(session, case, "work_report_heard", f"{body.meeting_date}常委会会议听取专项工作报告《{body.title}》", source)
    session.flush()
    return report


def add_inquiry_question(session: Session, case_id: str, body: InquiryQuestionCreate, source: str) -> InquiryQuestion:
    case = get_case(session, case_id)
    require_open_case(case)
    _not_before_selection(case, body.meeting_date, "meeting_date")
    question = InquiryQuestion(
        case_id=case.id,
        **body.model_dump(exclude={"responsible_unit"}),
    )
    session.add(question)
    session.flush()
    record(session, case, "inquiry_question", f"专题询问（{ASKER_TYPE_LABELS[body.asker_type]}提问，{body.answering_official}应询）", source,
           {"question_id": question.id})
    if body.promised_action is not None:
        commitment = add_commitment(
            session,
            case.id,
            CommitmentCreate(
                problem=body.question,
                evidence=[EvidenceLink(kind="inquiry_question", reference=question.id, label="专题询问")],
                measure=body.promised_action,
                responsible_unit=body.responsible_unit or case.department,
                responsible_person=body.answering_official,
                deadline=body.promised_deadline,
            ),
            source,
            inquiry_question_id=question.id,
        )
        question.commitment_id = commitment.id
    session.flush()
    return question


def list_work_reports(session: Session, case_id: str, *, limit: int, cursor: str | None) -> Page[WorkReportOut]:
    get_case(session, case_id)
    return paginate(session, select(WorkReport).where(WorkReport.case_id == case_id), [WorkReport.meeting_date, WorkReport.id],
                    limit=limit, cursor=cursor, to_item=lambda r: WorkReportOut.model_validate(r, from_attributes=True))


def list_inquiry_questions(session: Session, case_id: str, *, limit: int, cursor: str | None) -> Page[InquiryQuestionOut]:
    get_case(session, case_id)
    return paginate(session, select(InquiryQuestion).where(InquiryQuestion.case_id == case_id),
                    [InquiryQuestion.created_at, InquiryQuestion.id], limit=limit, cursor=cursor, to_item=question_out)


def question_out(q: InquiryQuestion) -> InquiryQuestionOut:
    return InquiryQuestionOut(
        id=q.id, case_id=q.case_id, meeting_date=q.meeting_date, asker=q.asker, asker_type=q.asker_type,
        asker_type_label=ASKER_TYPE_LABELS[q.asker_type], question=q.question, answering_official=q.answering_official,
        answer=q.answer, promised_action=q.promised_action, promised_deadline=q.promised_deadline,
        commitment_id=q.commitment_id, created_at=q.created_at,
    )
