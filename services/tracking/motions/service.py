"""Deputies' motions handling (议案办理): assignment, reply, feedback, redo."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.tracking.domain.milestones import is_overdue
from services.tracking.domain.supervision import (
    AWAITING_REPLY,
    FEEDBACK_LABELS,
    MOTION_STATUS_LABELS,
    RESULT_CODE_LABELS,
    after_feedback,
    motion_reply_due,
)
from services.tracking.history import append_history
from services.tracking.models import DeputyMotion
from services.tracking.motions.schemas import MotionCreate, MotionExtension, MotionFeedback, MotionOut, MotionReply
from services.tracking.sources import today
from shared.web.pagination import Page, paginate
from shared.web.problems import Problem, not_found


def create_motion(session: Session, body: MotionCreate, source: str) -> DeputyMotion:
    if session.scalars(select(DeputyMotion).where(DeputyMotion.number == body.number)).first() is not None:
        raise Problem(409, "motion-exists", "Motion exists 该议案已登记", f"motion {body.number} is already registered")
    motion = DeputyMotion(**body.model_dump(), reply_due_on=motion_reply_due(body.assigned_on, body.complex_case),
                          status="assigned", redo_count=0, history=[])
    append_history(motion, "assigned", f"交{body.assigned_unit}办理，{motion.reply_due_on}前答复", source)
    session.add(motion)
    session.flush()
    return motion


def get_motion(session: Session, motion_id: str) -> DeputyMotion:
    motion = session.get(DeputyMotion, motion_id)
    if motion is None:
        raise not_found("motion", motion_id)
    return motion


def _require_awaiting_reply(motion: DeputyMotion, action: str) -> None:
    if motion.status not in AWAITING_REPLY:
        raise Problem(409, "motion-not-awaiting-reply", "Motion not awaiting a reply 议案不在待答复状态",
                      f"cannot {action}: the motion is {motion.status}", rule="reply_only_while_assigned_or_redo", motion_status=motion.status)


def extend(session: Session, motion_id: str, body: MotionExtension, source: str) -> DeputyMotion:
    motion = get_motion(session, motion_id)
    _require_awaiting_reply(motion, "extend it")
    if body.new_due_on <= motion.reply_due_on:
        raise Problem(422, "extension-not-later", "Extension not later 延期日期未晚于原期限",
                      f"new_due_on {body.new_due_on} is not after {motion.reply_due_on}")
    append_history(motion, "extended", f"经{body.approved_by}批准，答复期限由{motion.reply_due_on}延至{body.new_due_on}", source)
    motion.reply_due_on = body.new_due_on
    motion.extension_approved_by = body.approved_by
    motion.extension_reason = body.reason
    return motion


def reply(session: Session, motion_id: str, body: MotionReply, source: str) -> DeputyMotion:
    motion = get_motion(session, motion_id)
    _require_awaiting_reply(motion, "reply")
    if body.replied_on < motion.assigned_on:
        raise Problem(422, "reply-before-assignment", "Reply before assignment 答复日期早于交办日期",
                      f"replied_on {body.replied_on} is before assigned_on {motion.assigned_on}")
    motion.status = "replied"
    motion.reply, motion.replied_on, motion.result_code = body.reply, body.replied_on, body.result_code
    motion.feedback = motion.feedback_on = None
    append_history(motion, "replied", f"{motion.assigned_unit}答复，办理结果{body.result_code}类", source)
    return motion


def feedback(session: Session, motion_id: str, body: MotionFeedback, source: str) -> DeputyMotion:
    motion = get_motion(session, motion_id)
    if motion.status != "replied":
        raise Problem(409, "motion-not-replied", "Motion not replied 议案尚未答复",
                      f"feedback follows a reply; the motion is {motion.status}", rule="feedback_after_reply", motion_status=motion.status)
    if body.feedback_on < motion.replied_on:
        raise Problem(422, "feedback-before-reply", "Feedback before reply 反馈日期早于答复日期",
                      f"feedback_on {body.feedback_on} is before replied_on {motion.replied_on}")
    status, redo_due = after_feedback(body.feedback, body.feedback_on)
    motion.feedback, motion.feedback_on, motion.status = body.feedback, body.feedback_on, status
    append_history(motion, "feedback", f"代表反馈：{FEEDBACK_LABELS[body.feedback]}", source)
    if redo_due is not None:
        motion.redo_count += 1
        motion.reply_due_on = redo_due
        append_history(motion, "redo", f"代表不满意，重新办理，{redo_due}前再次答复", source)
    return motion


def list_motions(session: Session, *, status: str | None, limit: int, cursor: str | None,
                 assigned_unit: str | None = None) -> Page[MotionOut]:
    stmt = select(DeputyMotion)
    if assigned_unit is not None:
        stmt = stmt.where(DeputyMotion.assigned_unit == assigned_unit)
    if status:
        stmt = stmt.where(DeputyMotion.status == status)
    on = today()
    return paginate(session, stmt, [DeputyMotion.created_at, DeputyMotion.id], limit=limit, cursor=cursor,
                    to_item=lambda m: motion_out(m, on))


def motion_out(m: DeputyMotion, on=None) -> MotionOut:
    return MotionOut(
        id=m.id, number=m.number, title=m.title, sponsors=m.sponsors, assigned_unit=m.assigned_unit, assigned_on=m.assigned_on,
        complex_case=m.complex_case, reply_due_on=m.reply_due_on, extension_approved_by=m.extension_approved_by,
        extension_reason=m.extension_reason, status=m.status, status_label=MOTION_STATUS_LABELS[m.status], reply=m.reply,
        replied_on=m.replied_on, result_code=m.result_code, result_label=RESULT_CODE_LABELS.get(m.result_code) if m.result_code else None,
        feedback=m.feedback, feedback_label=FEEDBACK_LABELS.get(m.feedback) if m.feedback else None, feedback_on=m.feedback_on,
        redo_count=m.redo_count, overdue=is_overdue(m.reply_due_on, m.status not in AWAITING_REPLY, on or today()),
        history=m.history or [],
    )
