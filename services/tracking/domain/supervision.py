"""Deputies' motions handling and audit-findings rectification: pure rules, no I/O."""

from __future__ import annotations

import datetime as dt

from services.tracking.domain.milestones import add_months

MOTION_REPLY_MONTHS = 3
MOTION_COMPLEX_REPLY_MONTHS = 6
# After an unsatisfied feedback the unit handles the motion again; local rules
# commonly allow the same three months as the first reply.
MOTION_REDO_MONTHS = 3
AUDIT_REPORT_MONTHS = 6

RESULT_CODE_LABELS = {
    "A": "所提问题已经解决或基本解决",
    "B": "所提问题列入计划逐步解决",
    "C": "所提问题因条件限制需以后解决",
    "D": "所提问题因法律政策等原因不能解决，已作说明",
}
FEEDBACK_LABELS = {"satisfied": "满意", "basically_satisfied": "基本满意", "unsatisfied": "不满意"}
MOTION_STATUS_LABELS = {"assigned": "办理中", "replied": "已答复待反馈", "redo": "重新办理", "closed": "已办结"}
AWAITING_REPLY = ("assigned", "redo")


def motion_reply_due(assigned_on: dt.date, complex_case: bool) -> dt.date:
    return add_months(assigned_on, MOTION_COMPLEX_REPLY_MONTHS if complex_case else MOTION_REPLY_MONTHS)


def after_feedback(feedback: str, feedback_on: dt.date) -> tuple[str, dt.date | None]:
    """(next status, new reply due date): 不满意 sends the motion back for redoing."""
    if feedback == "unsatisfied":
        return "redo", add_months(feedback_on, MOTION_REDO_MONTHS)
    return "closed", None


def audit_report_due(received_on: dt.date) -> dt.date:
    return add_months(received_on, AUDIT_REPORT_MONTHS)
