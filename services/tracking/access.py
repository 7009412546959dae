"""Who may do what in tracking.

- `read`: every non-public GET (any credential holds it).
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

from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session

from services.tracking.models import (
    AuditCase,
    AuditFinding,
    Commitment,
    DeputyMotion,
    EvaluationCase,
    InterpellationMotion,
)
from shared.auth import Principal
from shared.problems import not_found
from shared.security import require, require_department

Reader = Annotated[Principal, Depends(require("read"))]
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

