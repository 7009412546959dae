"""Routes every service has for its operators: the audit chain, read and
verified; and the service's API keys, issued, listed and revoked.

An API key is stored in the database of the service that issued it (its hash
only) and grants that service's scopes or `read`: a department's liaison gets
a tracking key with `tracking:write` bound to the department. The secret is in
the 201 only; an Idempotency-Key replay answers the same key's record with
`key` null, since the idempotency table must not hold secrets either."""


import datetime as dt
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import or_, select

from shared.security import audit as audit_chain
from shared.security.credentials import (
    KNOWN_SCOPES,
    READ_SCOPE,
    Principal,
    create_api_key,
    revoke_api_key,
)
from shared.web.pagination import Cursor, Limit, Page, paginate
from shared.web.problems import Problem, not_found, problem_responses
from shared.ops.runtime import SessionDep
from shared.security.access import request_audit_context, require, set_audit_context
from shared.security.idempotency import IdempotencyDep
from shared.web.text import DepartmentName, RequestModel, text
from shared.web.text import name as name_text

Scope = Literal[tuple(KNOWN_SCOPES)]  # type: ignore[valid-type]


def grantable_scopes(service: str) -> list[str]:
    """What a service's admin may put on a key it issues: the service's own scopes and `read`."""
    return [READ_SCOPE] + [s for s in KNOWN_SCOPES if s.partition(":")[0] == service]


class ApiKeyCreate(RequestModel):
    """A key for an integrating system or a department's liaison."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"name": "淄博市教育局评议联络员", "scopes": ["tracking:write"], "department": "淄博市教育局"},
        {"name": "12345政务服务便民热线平台", "scopes": ["scoring:import"]},
    ]})

    name: name_text(200) = Field(description="who the key is for; unique in this service, revoked keys included")
    scopes: list[Scope] = Field(min_length=1, max_length=len(KNOWN_SCOPES), json_schema_extra={"uniqueItems": True},
                                description="this service's scopes or `read` (see `KNOWN_SCOPES`); another "
                                            "service's scope is refused as `scope-not-grantable`")
    department: DepartmentName | None = Field(None, description="the department the key acts for, and only for; "
                                                                 "required with `tracking:write`")


class ApiKeyOut(BaseModel):
    """A key as listed: never its secret."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "3f9a0c2e", "name": "淄博市教育局评议联络员", "scopes": ["tracking:write"], "department": "淄博市教育局",
        "created_at": "2021-03-01T09:00:00Z", "last_used_at": "2021-03-15T10:12:00Z", "revoked_at": None}]})

    id: str = Field(description="the key's public prefix: `pyk_<id>_…`")
    name: str = Field(description="who the key is for")
    scopes: list[str] = Field(description="what the key may do in this service")
    department: str | None = Field(description="the department the key acts for; null for a key not bound to one")
    created_at: dt.datetime = Field(description="when the key was issued")
    last_used_at: dt.datetime | None = Field(None, description="when it was last used, to within five minutes; null if never")
    revoked_at: dt.datetime | None = Field(None, description="when it was revoked; null while it is valid")


class ApiKeyIssued(ApiKeyOut):
    """The new key's record and, this once, its secret."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "3f9a0c2e", "name": "淄博市教育局评议联络员", "scopes": ["tracking:write"], "department": "淄博市教育局",
        "created_at": "2021-03-01T09:00:00Z", "last_used_at": None, "revoked_at": None,
        "key": "pyk_3f9a0c2e_Qm9yZWFsaXMtZXhhbXBsZS1zZWNyZXQtbm90LXJlYWw"}]})

    key: str | None = Field(description="the whole key, to send as `Authorization: Bearer`; shown in this answer only "
                                         "(only its hash is stored). Null in an Idempotency-Key replay: if it was lost, "
                                         "revoke the key and issue another")


def _key_out(row) -> dict[str, Any]:
    return ApiKeyOut(id=row.id, name=row.name, scopes=list(row.scopes), department=row.department,
                     created_at=row.created_at, last_used_at=row.last_used_at, revoked_at=row.revoked_at).model_dump()


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

    def key_model(request: Request):
        return request.app.state.security_models.api_key

    @router.post("/api-keys", response_model=ApiKeyIssued, status_code=201, summary="Issue an API key",
                 responses=problem_responses(401, 403, 409, 422, 429),
                 description="Issues a key for an integrating system or a department's liaison, stored in this "
                             "service's database as a hash. It may carry this service's scopes and `read` only "
                             "(422 `scope-not-grantable` names any other); `tracking:write` needs the department it "
                             "acts for (422 `department-required`). The secret is in this answer only. The audit "
                             "entry names the key, its scopes and department, never the secret.")
    def issue_api_key(body: ApiKeyCreate, request: Request, session: SessionDep, idem: IdempotencyDep, _: Admin):
        if (stored := idem.replay(session)) is not None:
            return stored
        allowed = grantable_scopes(service)
        refused = [s for s in body.scopes if s not in allowed]
        if refused:
            raise Problem(422, "scope-not-grantable", "Scope not grantable 该服务不能授予此权限",
                          f"{service} cannot grant {', '.join(refused)}: a key here may carry {', '.join(allowed)}",
                          scope=refused[0], refused_scopes=refused, grantable_scopes=allowed)
        if "tracking:write" in body.scopes and body.department is None:
            # A department's scope without a department would act for every department.
            raise Problem(422, "department-required", "Department required 须指定部门",
                          "tracking:write is a department's scope: give the department the key acts for",
                          scope="tracking:write")
        model = key_model(request)
        secret = create_api_key(session, model, name=body.name, scopes=list(body.scopes), department=body.department)
        row = session.get(model, secret.split("_", 2)[1])
        record = _key_out(row)
        set_audit_context(session, lambda: _with_key(request_audit_context(request), record), pending=True)
        idem.record(session, 201, {**record, "key": None})
        session.commit()
        return {**record, "key": secret}

    @router.get("/api-keys", response_model=Page[ApiKeyOut], responses=problem_responses(401, 403, 422, 429),
                summary="This service's API keys, never their secrets",
                description="Every key this service issued, revoked ones included, in the order they were issued.")
    def list_api_keys(request: Request, session: SessionDep, _: Admin, limit: Limit = 50, cursor: Cursor = None,
                      revoked: bool | None = None) -> Page[ApiKeyOut]:
        model = key_model(request)
        stmt = select(model)
        if revoked is not None:
            stmt = stmt.where(model.revoked_at.is_not(None) if revoked else model.revoked_at.is_(None))
        return paginate(session, stmt, [model.created_at, model.id], limit=limit, cursor=cursor,
                        to_item=lambda row: ApiKeyOut(**_key_out(row)))

    @router.delete("/api-keys/{key}", response_model=ApiKeyOut, responses=problem_responses(401, 403, 404, 429),
                   summary="Revoke an API key, by id or name",
                   description="The key is refused (401) from the next request on; its record stays, so its name "
                               "is not issued again. Revoking a revoked key answers its record unchanged.")
    def revoke(key: Annotated[text(200, min_length=1), Path(description="the key's id (its prefix) or its name")], request: Request,
               session: SessionDep, _: Admin) -> ApiKeyOut:
        model = key_model(request)
        row = session.scalars(select(model).where(or_(model.id == key, model.name == key))
                              .order_by((model.id == key).desc())).first()
        if row is None:
            raise not_found("API key", key)
        revoke_api_key(session, model, row.name)
        session.flush()
        out = _key_out(row)
        session.commit()
        return ApiKeyOut(**out)

    return router


def _with_key(context, record: dict[str, Any]):
    context.detail = {**(context.detail or {}), "api_key": {k: record[k] for k in ("id", "name", "scopes", "department")}}
    return context
