"""Evaluation cases and the follow-up after an unsatisfied vote."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from services.tracking.cases.schemas import (
    CaseDetail,
    CaseOut,
    InvestigationOut,
    RereportOut,
    TimelineEntryOut,
    UnsatisfiedRoundOut,
)
from services.tracking.domain.follow_up import CASE_STAGE_LABELS, plan_follow_up
from services.tracking.models import (
    EvaluationCase,
    Investigation,
    OutboxMessage,
    Rereport,
    TimelineEntry,
    UnsatisfiedRound,
)
from shared.events import Envelope, RereportScheduled, ScoreComputed, VoteMarkedUnsatisfied, utcnow
from shared.outbox import publish
from shared.problems import not_found

GRADE_LABELS = {"satisfied": "满意", "basically_satisfied": "基本满意", "unsatisfied": "不满意"}


def get_or_open_case(session: Session, department: str, year: int, *, source: str) -> EvaluationCase:
    case = session.scalars(
        select(EvaluationCase).where(EvaluationCase.department == department, EvaluationCase.evaluation_year == year)
    ).first()
    if case is None:
        case = EvaluationCase(department=department, evaluation_year=year, status="open", stage="rectification")
        session.add(case)
        session.flush()
        record(session, case, "case_opened", f"{department} {year}年度专项工作评议立案", source)
    return case


def record(session: Session, case: EvaluationCase, kind: str, summary: str, source: str, detail: dict | None = None) -> None:
    now = utcnow()
    case.updated_at = now
    session.add(TimelineEntry(case_id=case.id, at=now, kind=kind, summary=summary, source=source, detail=detail))


def schedule_rereport(
    session: Session, envelope: Envelope, *, investigation_days: int, research_group: str
) -> Rereport:
    """On 不满意: record the round, open a special investigation and schedule the re-report."""
    event = VoteMarkedUnsatisfied.from_envelope(envelope)
    source = f"event:{envelope.event_id}"
    case = get_or_open_case(session, event.department, event.evaluation_year, source=source)
    already = session.scalars(
        select(Rereport).join(UnsatisfiedRound, UnsatisfiedRound.case_id == Rereport.case_id).where(
            UnsatisfiedRound.case_id == case.id, UnsatisfiedRound.round == event.unsatisfied_round,
            Rereport.vote_round == event.vote_round + 1,
        )
    ).first()
    if already is not None:
        # This round was announced before under another event id: followed up already.
        return already
    follow_up = plan_follow_up(event.meeting_date, event.vote_round, investigation_days)
    session.add(
        UnsatisfiedRound(
            case_id=case.id,
            round=event.unsatisfied_round,
            vote_round=event.vote_round,
            ballot_id=event.ballot_id,
            meeting_id=event.meeting_id,
            meeting_date=event.meeting_date,
        )
    )
    case.latest_grade = "unsatisfied"
    investigation = Investigation(
        case_id=case.id,
        unsatisfied_round=event.unsatisfied_round,
        research_group=research_group,
        status="open",
        due_on=follow_up.investigation_due_on,
    )
    session.add(investigation)
    session.flush()
    envelope_out = publish(
        session,
        OutboxMessage,
        RereportScheduled(
            case_id=case.id,
            department=event.department,
            evaluation_year=event.evaluation_year,
            vote_round=follow_up.rereport_vote_round,
            after_meeting_id=event.meeting_id,
            after_meeting_date=event.meeting_date,
            mode=follow_up.rereport_mode,
            investigation_id=investigation.id,
        ),
        producer="tracking",
        key=event.department,
    )
    rereport = Rereport(
        case_id=case.id,
        vote_round=follow_up.rereport_vote_round,
        mode=follow_up.rereport_mode,
        after_meeting_id=event.meeting_id,
        after_meeting_date=event.meeting_date,
        investigation_id=investigation.id,
        event_id=str(envelope_out.event_id),
    )
    session.add(rereport)
    case.stage = "investigation"
    record(session, case, "unsatisfied", f"第{event.unsatisfied_round}次表决结果为不满意", source,
           {"ballot_id": event.ballot_id, "vote_round": event.vote_round})
    record(session, case, "investigation_opened", f"{research_group}开展专题调研，{follow_up.investigation_due_on}前完成", source)
    record(session, case, "rereport_scheduled", "提请下次常委会会议再次听取专项工作报告、询问或质询和电子表决", source,
           {"vote_round": follow_up.rereport_vote_round})
    session.flush()
    return rereport


def record_grade(session: Session, envelope: Envelope) -> None:
    """Keep each case's latest satisfaction grade (score.computed)."""
    event = ScoreComputed.from_envelope(envelope)
    if event.kind != "satisfaction" or event.satisfaction is None:
        return
    result = event.satisfaction
    case = get_or_open_case(session, result.department, result.evaluation_year, source=f"event:{envelope.event_id}")
    case.latest_grade = result.grade
    if result.grade != "unsatisfied" and case.stage in ("investigation", "awaiting_rereport"):
        case.stage = "rectification"  # the re-vote passed: back to rectifying until the case closes
    record(session, case, "graded", f"第{result.vote_round}轮满意度测评结果：{GRADE_LABELS[result.grade]}",
           f"event:{envelope.event_id}", {"ballot_id": result.ballot_id, "grade": result.grade})


def vote_marked_unsatisfied_handler(investigation_days: int, research_group: str) -> Callable[[Session, Envelope], None]:
    def handle(session: Session, envelope: Envelope) -> None:
        schedule_rereport(session, envelope, investigation_days=investigation_days, research_group=research_group)

    return handle


def get_case(session: Session, case_id: str) -> EvaluationCase:
    case = session.get(
        EvaluationCase,
        case_id,
        options=[
            selectinload(EvaluationCase.unsatisfied_rounds),
            selectinload(EvaluationCase.investigations),
            selectinload(EvaluationCase.rereports),
            selectinload(EvaluationCase.timeline),
        ],
    )
    if case is None:
        raise not_found("case", case_id)
    return case


def list_cases(session: Session, department: str | None, year: int | None) -> list[EvaluationCase]:
    stmt = select(EvaluationCase).order_by(EvaluationCase.evaluation_year, EvaluationCase.department)
    if department:
        stmt = stmt.where(EvaluationCase.department == department)
    if year:
        stmt = stmt.where(EvaluationCase.evaluation_year == year)
    return list(session.scalars(stmt))


def list_investigations(session: Session, case_id: str | None) -> list[Investigation]:
    stmt = select(Investigation).order_by(Investigation.opened_at)
    if case_id:
        stmt = stmt.where(Investigation.case_id == case_id)
    return list(session.scalars(stmt))


def _case_fields(case: EvaluationCase) -> dict:
    return dict(
        id=case.id,
        department=case.department,
        evaluation_year=case.evaluation_year,
        status=case.status,
        stage=case.stage,
        stage_label=CASE_STAGE_LABELS.get(case.stage, case.stage),
        latest_grade=case.latest_grade,
        opened_at=case.opened_at,
        updated_at=case.updated_at,
    )


def case_out(case: EvaluationCase) -> CaseOut:
    return CaseOut(**_case_fields(case))


def case_detail(case: EvaluationCase) -> CaseDetail:
    return CaseDetail(
        **_case_fields(case),
        unsatisfied_rounds=[UnsatisfiedRoundOut.model_validate(r, from_attributes=True) for r in case.unsatisfied_rounds],
        investigations=[InvestigationOut.model_validate(i, from_attributes=True) for i in case.investigations],
        rereports=[RereportOut.model_validate(r, from_attributes=True) for r in case.rereports],
        timeline=[TimelineEntryOut.model_validate(t, from_attributes=True) for t in case.timeline],
    )
