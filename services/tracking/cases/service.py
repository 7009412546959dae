"""Evaluation cases and the follow-up after an unsatisfied vote."""

from __future__ import annotations

import calendar

import datetime as dt
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from services.tracking.cases.schemas import (
    CaseClose,
    CaseCreate,
    CaseDetail,
    CaseOut,
    CasePlanUpdate,
    InvestigationFindings,
    MilestoneComplete,
    MilestoneOut,
    InvestigationOut,
    RereportOut,
    TimelineEntryOut,
    UnsatisfiedRoundOut,
)
from services.tracking.domain.escalation import ESCALATION_LABELS, escalates
from services.tracking.domain.follow_up import CASE_STAGE_LABELS, plan_follow_up
from services.tracking.domain.milestones import MILESTONE_LABELS, close_refusal, is_overdue, plan_milestones
from services.tracking.models import (
    PlanTerms,
    Commitment,
    EscalationStep,
    EvaluationCase,
    Milestone,
    Investigation,
    OutboxMessage,
    Rereport,
    TimelineEntry,
    UnsatisfiedRound,
)
from services.tracking.sources import event_source, today
from services.tracking.public.status_cache import STATUS_CACHE, status_key
from shared.messaging.events import BallotClosed, Envelope, RereportScheduled, ScoreComputed, VoteMarkedUnsatisfied, utcnow
from shared.messaging.outbox import publish
from shared.web.pagination import Page, paginate
from shared.web.problems import Problem, not_found

# Who decided an escalation applied from the plan rather than by a person.
ESCALATION_POLICY_DECIDER = "默认评议规则（TRACKING_ESCALATION_POLICY，未收到年度评议工作方案）"

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
    # Every state change passes here: the polled status must not outlive it.
    STATUS_CACHE.invalidate_after_commit(session, status_key(case.id))
    session.add(TimelineEntry(case_id=case.id, at=now, kind=kind, summary=summary, source=source, detail=detail))


def schedule_rereport(
    session: Session, envelope: Envelope, *, investigation_days: int, research_group: str,
    escalation_policy: str = "written_self_examination",
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
    if escalates(event.unsatisfied_round):
        # The year plan decides the step; the setting only stands in when no plan has arrived.
        terms = session.get(PlanTerms, event.evaluation_year)
        decided_by = ESCALATION_POLICY_DECIDER
        if terms is not None and terms.escalation_policy in ESCALATION_LABELS:
            escalation_policy = terms.escalation_policy
            decided_by = f"{event.evaluation_year}年评议工作方案（{terms.plan_id}）"
        session.add(EscalationStep(case_id=case.id, unsatisfied_round=event.unsatisfied_round, measure=escalation_policy,
                                   decided_by=decided_by, decided_at=utcnow(), source=source))
        case.stage = "escalated"
        record(session, case, "escalated", f"第{event.unsatisfied_round}次不满意，依方案{ESCALATION_LABELS[escalation_policy]}", source,
               {"measure": escalation_policy, "unsatisfied_round": event.unsatisfied_round})
    session.flush()
    return rereport


def record_plan_terms(session: Session, event: ScoreComputed, source: str) -> None:
    """Keep the year plan's escalation policy, carried by its composite ranking."""
    if event.evaluation_year is None or event.plan_id is None or event.escalation_policy is None:
        return
    terms = session.get(PlanTerms, event.evaluation_year)
    if terms is None:
        terms = PlanTerms(evaluation_year=event.evaluation_year, review_months={})
        session.add(terms)
    terms.plan_id, terms.escalation_policy, terms.source, terms.updated_at = (
        event.plan_id, event.escalation_policy, source, utcnow())
    if event.batch is not None and event.review_month is not None:
        terms.review_months = {**(terms.review_months or {}), str(event.batch): event.review_month}


def record_grade(session: Session, envelope: Envelope) -> None:
    """Keep each case's latest satisfaction grade, and the plan's terms (score.computed)."""
    event = ScoreComputed.from_envelope(envelope)
    if event.kind == "composite_ranking":
        record_plan_terms(session, event, f"event:{envelope.event_id}")
        return
    if event.kind != "satisfaction" or event.satisfaction is None:
        return
    result = event.satisfaction
    case = get_or_open_case(session, result.department, result.evaluation_year, source=f"event:{envelope.event_id}")
    graded_ballots = {
        (entry.detail or {}).get("ballot_id")
        for entry in session.scalars(select(TimelineEntry).where(TimelineEntry.case_id == case.id, TimelineEntry.kind == "graded"))
    }
    if result.ballot_id in graded_ballots:
        return  # this ballot's grade was announced before under another event id
    case.latest_grade = result.grade
    if result.grade != "unsatisfied" and case.stage in ("investigation", "awaiting_rereport", "escalated"):
        case.stage = "rectification"  # the re-vote passed: back to rectifying until the case closes
    record(session, case, "graded", f"第{result.vote_round}轮满意度测评结果：{GRADE_LABELS[result.grade]}",
           f"event:{envelope.event_id}", {"ballot_id": result.ballot_id, "grade": result.grade, "vote_round": result.vote_round,
            "meeting_date": result.meeting_date.isoformat()})


def vote_marked_unsatisfied_handler(
    investigation_days: int, research_group: str, escalation_policy: str = "written_self_examination"
) -> Callable[[Session, Envelope], None]:
    def handle(session: Session, envelope: Envelope) -> None:
        schedule_rereport(session, envelope, investigation_days=investigation_days, research_group=research_group,
                          escalation_policy=escalation_policy)

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
            selectinload(EvaluationCase.milestones),
        ],
    )
    if case is None:
        raise not_found("case", case_id)
    return case


def list_cases(session: Session, *, department: str | None, year: int | None, limit: int, cursor: str | None) -> Page[CaseOut]:
    stmt = select(EvaluationCase)
    if department:
        stmt = stmt.where(EvaluationCase.department == department)
    if year:
        stmt = stmt.where(EvaluationCase.evaluation_year == year)
    return paginate(session, stmt, [EvaluationCase.evaluation_year, EvaluationCase.department, EvaluationCase.id],
                    limit=limit, cursor=cursor, to_item=case_out)


def list_investigations(session: Session, *, case_id: str | None, department: str | None = None, limit: int,
                        cursor: str | None) -> Page[InvestigationOut]:
    stmt = select(Investigation)
    if department is not None:
        stmt = stmt.join(EvaluationCase, EvaluationCase.id == Investigation.case_id).where(EvaluationCase.department == department)
    if case_id:
        stmt = stmt.where(Investigation.case_id == case_id)
    return paginate(session, stmt, [Investigation.opened_at, Investigation.id], limit=limit, cursor=cursor,
                    to_item=lambda i: InvestigationOut.model_validate(i, from_attributes=True))


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
        selection_date=case.selection_date,
        batch=case.batch,
        complex_case=case.complex_case,
        review_meeting_date=case.review_meeting_date,
        closed_at=case.closed_at,
        closed_by=case.closed_by,
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
        milestones=[milestone_out(m) for m in sorted(case.milestones, key=lambda m: (m.due_on, m.kind))],
    )


def milestone_out(m: Milestone, on: dt.date | None = None) -> MilestoneOut:
    return MilestoneOut(
        kind=m.kind,
        label=MILESTONE_LABELS[m.kind],
        due_on=m.due_on,
        status=m.status,
        completed_on=m.completed_on,
        document_url=m.document_url,
        overdue=is_overdue(m.due_on, m.status == "done", on or today()),
    )


# --- opening cases from the competitive selection -----------------------------


def find_case(session: Session, department: str, year: int) -> EvaluationCase | None:
    return session.scalars(
        select(EvaluationCase).where(EvaluationCase.department == department, EvaluationCase.evaluation_year == year)
    ).first()


def open_selected_case(
    session: Session,
    *,
    department: str,
    year: int,
    selection_date: dt.date,
    source: str,
    batch: int | None = None,
    ballot_id: str | None = None,
    complex_case: bool = False,
    review_meeting_date: dt.date | None = None,
) -> tuple[EvaluationCase, bool]:
    """The case of a department chosen at the selection, with its milestones;
    (case, False) when that selection is already recorded."""
    case = get_or_open_case(session, department, year, source=source)
    if case.selection_date is not None:
        return case, False
    case.selection_date = selection_date
    case.selection_ballot_id = ballot_id
    case.batch = batch
    case.complex_case = complex_case
    case.review_meeting_date = review_meeting_date
    record(session, case, "selected", f"{selection_date}差额投票表决确定为{year}年度专项工作评议对象", source,
           {"ballot_id": ballot_id, "batch": batch})
    _sync_milestones(session, case, source)
    session.flush()
    return case, True


def _planned_review_due(session: Session, case: EvaluationCase) -> dt.date | None:
    """Until the review meeting's date is set: the last day of the month the
    year plan gives the case's batch."""
    if case.batch is None:
        return None
    terms = session.get(PlanTerms, case.evaluation_year)
    month = (terms.review_months or {}).get(str(case.batch)) if terms is not None else None
    if month is None:
        return None
    return dt.date(case.evaluation_year, month, calendar.monthrange(case.evaluation_year, month)[1])


def _sync_milestones(session: Session, case: EvaluationCase, source: str) -> None:
    """Create or move the pending milestones to what the plan says now."""
    existing = {m.kind: m for m in session.scalars(select(Milestone).where(Milestone.case_id == case.id))}
    planned = plan_milestones(case.selection_date, complex_case=case.complex_case,
                              review_meeting_date=case.review_meeting_date or _planned_review_due(session, case))
    for p in planned:
        m = existing.get(p.kind)
        if m is None:
            session.add(Milestone(case_id=case.id, kind=p.kind, due_on=p.due_on, status="pending"))
            record(session, case, "milestone_set", f"{MILESTONE_LABELS[p.kind]}：{p.due_on}前", source, {"kind": p.kind, "due_on": p.due_on.isoformat()})
        elif m.status == "pending" and m.due_on != p.due_on:
            record(session, case, "milestone_moved", f"{MILESTONE_LABELS[p.kind]}期限由{m.due_on}调整为{p.due_on}", source,
                   {"kind": p.kind, "from": m.due_on.isoformat(), "to": p.due_on.isoformat()})
            m.due_on = p.due_on
    planned_kinds = {p.kind for p in planned}
    for kind, m in existing.items():
        if kind not in planned_kinds and m.status == "pending":
            # e.g. the review meeting date was withdrawn
            session.delete(m)
            record(session, case, "milestone_removed", f"{MILESTONE_LABELS[kind]}日期待定", source, {"kind": kind})
    session.flush()
    session.expire(case, ["milestones"])


def ballot_closed_handler(session: Session, envelope: Envelope) -> None:
    """Open a case for every department a competitive selection chose (ballot.closed)."""
    event = BallotClosed.from_envelope(envelope)
    if event.ballot_kind != "competitive_selection" or not event.winners:
        return
    year = event.evaluation_year or event.meeting_date.year
    for department in event.winners:
        open_selected_case(
            session,
            department=department,
            year=year,
            selection_date=event.meeting_date,
            batch=event.batch,
            ballot_id=event.ballot_id,
            source=event_source(envelope.event_id),
        )


def create_case(session: Session, body: CaseCreate, source: str) -> EvaluationCase:
    existing = find_case(session, body.department, body.evaluation_year)
    if existing is not None and existing.selection_date is not None:
        raise Problem(409, "case-exists", "Case exists 该部门本年度评议案件已存在",
                      f"{body.department} already has a {body.evaluation_year} case", case_id=existing.id)
    case, _ = open_selected_case(
        session,
        department=body.department,
        year=body.evaluation_year,
        selection_date=body.selection_date,
        batch=body.batch,
        complex_case=body.complex_case,
        review_meeting_date=body.review_meeting_date,
        source=source,
    )
    return case


def require_selected(case: EvaluationCase) -> dt.date:
    if case.selection_date is None:
        raise Problem(409, "case-not-selected", "No selection recorded 尚未记录差额表决结果",
                      "this case has no selection date, so it has no milestones or commitments yet", case_id=case.id)
    return case.selection_date


def require_open_case(case: EvaluationCase) -> None:
    if case.status == "closed":
        raise Problem(409, "case-closed", "Case closed 案件已结案", "a closed case takes no more changes", case_id=case.id)


def update_case_plan(session: Session, case_id: str, body: CasePlanUpdate, source: str) -> EvaluationCase:
    case = get_case(session, case_id)
    require_selected(case)
    require_open_case(case)
    changes = body.model_dump(exclude_unset=True)
    for field, value in changes.items():
        setattr(case, field, value)
    if changes:
        record(session, case, "plan_changed", "整改期限依据调整", source, {k: str(v) for k, v in changes.items()})
    _sync_milestones(session, case, source)
    return case


def complete_milestone(session: Session, case_id: str, kind: str, body: MilestoneComplete, source: str) -> EvaluationCase:
    case = get_case(session, case_id)
    require_open_case(case)
    milestone = next((m for m in case.milestones if m.kind == kind), None)
    if milestone is None:
        raise not_found("milestone", kind)
    if milestone.status == "done":
        raise Problem(409, "milestone-done", "Milestone already done 该节点已完成", f"{kind} was completed on {milestone.completed_on}")
    if case.selection_date and body.completed_on < case.selection_date:
        raise Problem(422, "date-before-selection", "Date before selection 日期早于差额表决日期",
                      f"completed_on {body.completed_on} is before the selection date {case.selection_date}")
    milestone.status = "done"
    milestone.completed_on = body.completed_on
    milestone.document_url = body.document_url
    record(session, case, "milestone_done", f"{MILESTONE_LABELS[kind]}已于{body.completed_on}完成", source, {"kind": kind})
    return case


def close_case(session: Session, case_id: str, body: CaseClose, source: str) -> EvaluationCase:
    case = get_case(session, case_id)
    require_open_case(case)
    statuses = list(session.scalars(select(Commitment.status).where(Commitment.case_id == case.id)))
    refusal = close_refusal(case.latest_grade, statuses)
    if refusal == "grade":
        raise Problem(409, "case-close-needs-passing-grade", "Latest grade not passing 最近一次测评结果不是满意或基本满意",
                      f"latest grade is {case.latest_grade or 'none'}; a case closes only after 满意 or 基本满意",
                      rule="latest_grade_satisfied_or_basically_satisfied", latest_grade=case.latest_grade)
    if refusal == "open_commitments":
        unfinished = [s for s in statuses if s not in ("done", "closed")]
        raise Problem(409, "case-close-open-commitments", "Commitments still open 仍有整改承诺未完成",
                      f"{len(unfinished)} commitment(s) are neither done nor closed with a reason",
                      rule="every_commitment_done_or_closed", open_commitments=len(unfinished))
    case.status = "closed"
    case.stage = "closed"
    case.closed_at = utcnow()
    case.closed_by = body.closed_by
    record(session, case, "case_closed", "整改完成，案件办结", source, {"closed_by": body.closed_by})
    return case


def record_findings(session: Session, investigation_id: str, body: InvestigationFindings, source: str) -> Investigation:
    investigation = session.get(Investigation, investigation_id)
    if investigation is None:
        raise not_found("investigation", investigation_id)
    if investigation.status != "open":
        raise Problem(409, "investigation-completed", "Investigation completed 专题调研已完成",
                      "the findings of this investigation are already recorded", rule="findings_recorded_once")
    case = session.get(EvaluationCase, investigation.case_id)
    investigation.findings = body.findings
    investigation.status = "completed"
    if case.stage == "investigation":
        case.stage = "awaiting_rereport"
    record(session, case, "investigation_completed", f"{investigation.research_group}完成专题调研", source,
           {"investigation_id": investigation.id})
    session.flush()
    return investigation
