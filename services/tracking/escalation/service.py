"""Escalation after a second 不满意, and interpellation motions (质询案)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.tracking.cases.service import get_case, record, require_open_case
from services.tracking.domain.escalation import ESCALATION_LABELS, MIN_INTERPELLATION_SPONSORS, distinct_sponsors, escalates
from services.tracking.escalation.schemas import (
    EscalationStepCreate,
    EscalationStepOut,
    InterpellationAnswer,
    InterpellationMotionCreate,
    InterpellationMotionOut,
)
from services.tracking.models import EscalationStep, InterpellationMotion, UnsatisfiedRound
from shared.messaging.events import utcnow
from shared.web.pagination import Page, paginate
from shared.web.problems import Problem, not_found


def _latest_unsatisfied_round(session: Session, case_id: str) -> int:
    return session.scalar(select(func.max(UnsatisfiedRound.round)).where(UnsatisfiedRound.case_id == case_id)) or 0


def add_step(session: Session, case_id: str, body: EscalationStepCreate, source: str) -> EscalationStep:
    case = get_case(session, case_id)
    require_open_case(case)
    round_ = _latest_unsatisfied_round(session, case.id)
    if not escalates(round_):
        raise Problem(409, "escalation-needs-second-unsatisfied", "No second unsatisfied vote 尚无第二次不满意",
                      f"this case has {round_} unsatisfied vote(s); escalation follows the second",
                      rule="escalation_after_second_unsatisfied", unsatisfied_rounds=round_)
    duplicate = session.scalars(select(EscalationStep).where(
        EscalationStep.case_id == case.id, EscalationStep.unsatisfied_round == round_, EscalationStep.measure == body.measure
    )).first()
    if duplicate is not None:
        raise Problem(409, "escalation-step-exists", "Step already recorded 该问责措施已记录",
                      f"{body.measure} is already recorded for unsatisfied round {round_}", step_id=duplicate.id)
    step = EscalationStep(case_id=case.id, unsatisfied_round=round_, measure=body.measure, decided_by=body.decided_by,
                          decided_at=body.decided_at or utcnow(), source=source, note=body.note)
    session.add(step)
    case.stage = "escalated"
    record(session, case, "escalated", f"{body.decided_by}决定：{ESCALATION_LABELS[body.measure]}", source,
           {"measure": body.measure, "unsatisfied_round": round_})
    session.flush()
    return step


def list_steps(session: Session, case_id: str, *, limit: int, cursor: str | None) -> Page[EscalationStepOut]:
    get_case(session, case_id)
    return paginate(session, select(EscalationStep).where(EscalationStep.case_id == case_id),
                    [EscalationStep.decided_at, EscalationStep.id], limit=limit, cursor=cursor, to_item=step_out)


def step_out(step: EscalationStep) -> EscalationStepOut:
    return EscalationStepOut(
        id=step.id, case_id=step.case_id, unsatisfied_round=step.unsatisfied_round, measure=step.measure,
        measure_label=ESCALATION_LABELS[step.measure], decided_by=step.decided_by, decided_at=step.decided_at,
        source=step.source, note=step.note,
    )


def file_motion(session: Session, case_id: str, body: InterpellationMotionCreate, source: str) -> InterpellationMotion:
    case = get_case(session, case_id)
    require_open_case(case)
    sponsors = distinct_sponsors(body.sponsors)
    if len(sponsors) < MIN_INTERPELLATION_SPONSORS:
        raise Problem(422, "interpellation-too-few-sponsors", "Too few sponsors 质询案联名人数不足",
                      f"{len(sponsors)} distinct sponsor(s); an interpellation motion needs at least {MIN_INTERPELLATION_SPONSORS}",
                      rule="interpellation_needs_5_sponsors", sponsors=len(sponsors), required=MIN_INTERPELLATION_SPONSORS)
    step = session.scalars(select(EscalationStep).where(
        EscalationStep.case_id == case.id, EscalationStep.measure == "interpellation_motion"
    ).order_by(EscalationStep.unsatisfied_round.desc())).first()
    motion = InterpellationMotion(case_id=case.id, escalation_step_id=step.id if step else None, subject=body.subject,
                                  sponsors=sponsors, filed_on=body.filed_on)
    session.add(motion)
    record(session, case, "interpellation_filed", f"{len(sponsors)}名常委会组成人员联名提出质询案", source, {"sponsors": len(sponsors)})
    session.flush()
    return motion


def answer_motion(session: Session, motion_id: str, body: InterpellationAnswer, source: str) -> InterpellationMotion:
    motion = session.get(InterpellationMotion, motion_id)
    if motion is None:
        raise not_found("interpellation motion", motion_id)
    case = get_case(session, motion.case_id)
    require_open_case(case)
    if motion.answer is not None:
        raise Problem(409, "interpellation-answered", "Already answered 质询案已答复", f"answered on {motion.answered_on} by {motion.answered_by}")
    if body.answered_on < motion.filed_on:
        raise Problem(422, "answer-before-filing", "Answer before filing 答复日期早于提出日期",
                      f"answered_on {body.answered_on} is before filed_on {motion.filed_on}")
    motion.answer, motion.answered_by, motion.answered_on = body.answer, body.answered_by, body.answered_on
    record(session, case, "interpellation_answered", f"{body.answered_by}答复质询案", source)
    session.flush()
    return motion


def list_motions(session: Session, case_id: str, *, limit: int, cursor: str | None) -> Page[InterpellationMotionOut]:
    get_case(session, case_id)
    return paginate(session, select(InterpellationMotion).where(InterpellationMotion.case_id == case_id),
                    [InterpellationMotion.filed_on, InterpellationMotion.id], limit=limit, cursor=cursor,
                    to_item=lambda m: InterpellationMotionOut.model_validate(m, from_attributes=True))
