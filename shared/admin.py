"""Routes every service has for its operators: the audit chain, read and verified."""


import datetime as dt
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from shared import audit as audit_chain
from shared.auth import Principal
from shared.pagination import Cursor, Limit, Page, paginate
from shared.problems import problem_responses
from shared.security import require


class AuditEntryOut(BaseModel):
    id: int
    at: dt.datetime
    actor: str
    action: str
    subject: str | None
    detail: dict[str, Any]
    seq: int | None = Field(description="place in the chain; null while waiting to be linked")
    previous_hash: str | None
    hash: str | None


class AuditVerification(BaseModel):
    intact: bool
    entries_checked: int = Field(description="entries that hold, from the first")
    first_broken_id: int | None = Field(description="the first entry that does not hold, if any")
    reason: str | None
    pending: int = Field(0, description="entries written since the check began, not yet linked")


def admin_router(service: str) -> APIRouter:
    router = APIRouter(prefix="/v1/admin", tags=["admin"])
    admin_scope = f"{service}:admin"
    Admin = Annotated[Principal, Depends(require(admin_scope))]

    def session_and_model(request: Request):
        runtime = request.app.state.runtime
        return runtime.db, request.app.state.security_models.audit_entry

    @router.get("/audit-log", response_model=Page[AuditEntryOut], responses=problem_responses(401, 403, 422, 429),
                summary="The audit chain, oldest first")
    def audit_log(request: Request, _: Admin, limit: Limit = 50, cursor: Cursor = None) -> Page[AuditEntryOut]:
        db, model = session_and_model(request)
        audit_chain.link_all(db, model)  # show entries sealed, not waiting for the linker
        with db.read_sessionmaker() as session:
            return paginate(session, select(model), [model.id], limit=limit, cursor=cursor, to_item=lambda row: AuditEntryOut(
                id=row.id, at=row.at, actor=row.actor, action=row.action, subject=row.subject,
                detail=json.loads(row.detail), seq=row.seq, previous_hash=row.previous_hash, hash=row.hash))

    @router.get("/audit-log/verification", response_model=AuditVerification, responses=problem_responses(401, 403, 429),
                summary="Walk the audit chain and name the first broken link")
    def verify_audit_log(request: Request, _: Admin) -> AuditVerification:
        db, model = session_and_model(request)
        audit_chain.link_all(db, model)
        with db.read_sessionmaker() as session:
            check = audit_chain.verify(session, model)
        return AuditVerification(intact=check.intact, entries_checked=check.entries, first_broken_id=check.first_broken_id,
                                 reason=check.reason, pending=check.pending)

    return router
