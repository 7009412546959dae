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
    id: int = Field(description="the entry's id, ascending in the order entries were written")
    at: dt.datetime = Field(description="when the change or handled event committed (ISO 8601, UTC)")
    actor: str = Field(description="who: the API key's name, `member:<member_id>` for a member token, `public` for a "
                                   "public route, or `event:<event_id>` for a handled event")
    action: str = Field(description="what: the method and route template (`POST /v1/meetings`), or `handle <event type>`")
    subject: str | None = Field(description="the request path, or the handled event's key; null if none")
    detail: dict[str, Any] = Field(description="the path parameters, query, request id and idempotency key (for an "
                                               "event, its producer and occurred_at); never a secret or a voter's identity")
    seq: int | None = Field(description="place in the chain; null while waiting to be linked")
    previous_hash: str | None = Field(description="SHA-256 (hex) of the entry before in the chain; null for the first "
                                                  "or while unlinked")
    hash: str | None = Field(description="SHA-256 (hex) over this entry and `previous_hash`; null while unlinked")


class AuditVerification(BaseModel):
    intact: bool = Field(description="true when every linked entry's hash holds and the chain has no gap")
    entries_checked: int = Field(description="entries that hold, from the first")
    first_broken_id: int | None = Field(description="the first entry that does not hold, if any")
    reason: str | None = Field(description="why the first broken entry does not hold (hash mismatch, gap); null if intact")
    pending: int = Field(0, description="entries written since the check began, not yet linked")


def admin_router(service: str) -> APIRouter:
    router = APIRouter(prefix="/v1/admin", tags=["admin"])
    admin_scope = f"{service}:admin"
    Admin = Annotated[Principal, Depends(require(admin_scope))]

    def session_and_model(request: Request):
        runtime = request.app.state.runtime
        return runtime.db, request.app.state.security_models.audit_entry

    @router.get("/audit-log", response_model=Page[AuditEntryOut], responses=problem_responses(401, 403, 422, 429),
                summary="The audit chain, oldest first",
                description=f"An operator or auditor with `{service}:admin` reads every committed write request and "
                            "every handled event of this service, oldest first, each sealed into a SHA-256 hash "
                            "chain. Entries waiting for the linker are linked first, so the page shows them sealed. "
                            "Changes no data. Refusals: `invalid-cursor` (422).")
    def audit_log(request: Request, _: Admin, limit: Limit = 50, cursor: Cursor = None) -> Page[AuditEntryOut]:
        db, model = session_and_model(request)
        audit_chain.link_all(db, model)  # show entries sealed, not waiting for the linker
        with db.read_sessionmaker() as session:
            return paginate(session, select(model), [model.id], limit=limit, cursor=cursor, to_item=lambda row: AuditEntryOut(
                id=row.id, at=row.at, actor=row.actor, action=row.action, subject=row.subject,
                detail=json.loads(row.detail), seq=row.seq, previous_hash=row.previous_hash, hash=row.hash))

    @router.get("/audit-log/verification", response_model=AuditVerification, responses=problem_responses(401, 403, 429),
                summary="Walk the audit chain and name the first broken link",
                description=f"An operator or auditor with `{service}:admin` checks that nobody has edited or deleted "
                            "an audit entry: the chain is walked from the first entry and the first that does not "
                            "hold is named with the reason (the same check as `pingyi audit verify`). Changes no "
                            "data; causes no event.")
    def verify_audit_log(request: Request, _: Admin) -> AuditVerification:
        db, model = session_and_model(request)
        audit_chain.link_all(db, model)
        with db.read_sessionmaker() as session:
            check = audit_chain.verify(session, model)
        return AuditVerification(intact=check.intact, entries_checked=check.entries, first_broken_id=check.first_broken_id,
                                 reason=check.reason, pending=check.pending)

    return router
