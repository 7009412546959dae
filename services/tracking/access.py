"""Who may do what in tracking.

Reading (least privilege):

- `tracking:read` (held by any key with a tracking scope, and by the `read`
  scope of staff dashboards): every non-public GET, except internal data.
  A department's key reads its own department's cases, commitments, progress,
  motions and audit cases only: another department's is 403
  `other-department`, and its lists hold its own department's rows only.
- Internal data (the `internal_note` of commitments and progress, the
  findings of special investigations) needs `tracking:read-internal` (or
  `tracking:admin`): the committee's staff. A department's key also sees the
  internal notes on its own commitments, which it wrote; never findings.
  Without it those fields read `null`.
- Member tokens (voting) read nothing here.

Acting:

- `tracking:admin`: the Standing Committee's staff system — cases, milestones,
  the review meeting and inquiry, investigations, escalation, interpellation
  motions, deputies' motions, audit cases and findings; it may also do all a
  department may.
- `tracking:write`: a department's key, bound to its department: add
  commitments to its own case, report progress with attachments, mark its
  commitments complete, answer the interpellation motion on its case, reply
  to the deputies' motions assigned to it, rectify its audit findings. Against
  another department's records it gets 403 `other-department`, before anything
  is written.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends
from pydantic import BaseModel
from sqlalchemy.orm import Session

from services.tracking.models import (
    AuditCase,
    AuditFinding,
    Commitment,
    DeputyMotion,
    EvaluationCase,
    InterpellationMotion,
    ProgressUpdate,
)
from shared.security.credentials import Principal
from shared.web.problems import not_found
from shared.security.access import require, require_department

Reader = Annotated[Principal, Depends(require("tracking:read"))]
Staff = Annotated[Principal, Depends(require("tracking:admin"))]
Department = Annotated[Principal, Depends(require("tracking:write"))]


def _case(session: Session, case_id: str) -> EvaluationCase:
    case = session.get(EvaluationCase, case_id)
    if case is None:
        raise not_found("case", case_id)
    return case


def for_case(session: Session, principal: Principal, case_id: str) -> None:
    """The caller may act on this evaluation case (404 when it does not exist)."""
    require_department(principal, _case(session, case_id).department)


def for_commitment(session: Session, principal: Principal, commitment_id: str) -> None:
    commitment = session.get(Commitment, commitment_id)
    if commitment is None:
        raise not_found("commitment", commitment_id)
    require_department(principal, _case(session, commitment.case_id).department)


def for_interpellation_motion(session: Session, principal: Principal, motion_id: str) -> None:
    motion = session.get(InterpellationMotion, motion_id)
    if motion is None:
        raise not_found("interpellation motion", motion_id)
    require_department(principal, _case(session, motion.case_id).department)


def for_deputy_motion(session: Session, principal: Principal, motion_id: str) -> None:
    motion = session.get(DeputyMotion, motion_id)
    if motion is None:
        raise not_found("motion", motion_id)
    require_department(principal, motion.assigned_unit)


def for_audit_finding(session: Session, principal: Principal, finding_id: str) -> None:
    finding = session.get(AuditFinding, finding_id)
    if finding is None:
        raise not_found("audit finding", finding_id)
    audit_case = session.get(AuditCase, finding.audit_case_id)
    require_department(principal, audit_case.audited_unit)



def for_attachment(session: Session, principal: Principal, attachment) -> None:
    progress = session.get(ProgressUpdate, attachment.progress_update_id)
    for_commitment(session, principal, progress.commitment_id)


def for_audit_case(principal: Principal, audit_case: AuditCase) -> None:
    require_department(principal, audit_case.audited_unit)


def own_department(principal: Principal, asked: str | None = None) -> str | None:
    """The department a list is limited to: a department key's own (asking for another is 403)."""
    if principal.department is None:
        return asked
    if asked is not None:
        require_department(principal, asked)
    return principal.department


def hidden_fields(principal: Principal) -> frozenset[str]:
    """The internal fields this caller may not see."""
    if principal.has("tracking:read-internal"):
        return frozenset()
    # A department's key sees the notes it wrote on its own commitments (its reads are its own only).
    return frozenset({"findings"} if principal.department is not None else {"findings", "internal_note"})


def shown(principal: Principal, value: Any) -> Any:
    """The response as this caller may see it: internal fields it may not read set to null."""
    hidden = hidden_fields(principal)
    return _without(value, hidden) if hidden else value


def _without(value: Any, hidden: frozenset[str]) -> Any:
    if isinstance(value, BaseModel):
        changes = {name: None for name in hidden if name in type(value).model_fields}
        for name in type(value).model_fields:
            field = getattr(value, name)
            if name not in changes and isinstance(field, BaseModel | list):
                changes[name] = _without(field, hidden)
        return value.model_copy(update=changes)
    if isinstance(value, list):
        return [_without(v, hidden) for v in value]
    return value
