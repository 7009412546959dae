"""How a request is authenticated, authorised and audited.

Every non-public route declares the scope it needs:

    @router.post(..., responses=problem_responses(401, 403, ...))
    def open_ballot(..., principal: Annotated[Principal, Depends(require("voting:run"))]):

`Authorization: Bearer <credential>` carries either an API key (`pyk_…`, looked
up hashed in the service's `api_keys` table) or a member token (a JWT bound to
one roster member). The principal is resolved once per request and shared with
the idempotency dependency (keys are per caller) and the audit hook.

Every write request's commit, and every handled event's transaction, writes
one audit entry in that same transaction (`install_audit`), so a state change
is never committed unaudited; `shared.security.audit.AuditLinker` seals it into the
hash chain just after.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import structlog
from fastapi import Depends, Request, Response, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import event
from sqlalchemy.orm import Session

from shared.security import audit as audit_chain
from shared.security.audit import AuditMixin
from shared.security.credentials import (
    KEY_PREFIX,
    ApiKeyMixin,
    Principal,
    authenticate_api_key,
    authenticate_member_token,
    unauthenticated,
)
from shared.db import utcnow
from shared.web.problems import Problem
from shared.web.ratelimit import enforce

log = structlog.get_logger(__name__)

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An API key (`pyk_…`) for integrating systems, or a member token (JWT) for members and clerks.",
)

# How often a key's `last_used_at` is refreshed (a write per request would be wasteful).
LAST_USED_RESOLUTION = dt.timedelta(minutes=5)


def current_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]
) -> Principal | None:
    """The caller, or None when no credential was sent; a bad credential is 401."""
    if credentials is None:
        return None
    if credentials.scheme.lower() != "bearer":
        raise unauthenticated("use the Bearer scheme")
    token = credentials.credentials
    state = request.app.state
    if token.startswith(KEY_PREFIX + "_"):
        models = state.security_models  # shared.security.tables.SecurityModels
        db = state.runtime.db
        with db.read_sessionmaker() as session:
            principal = authenticate_api_key(session, models.api_key, token)
            stale = session.get(models.api_key, token.split("_", 2)[1]).last_used_at
        if stale is None or utcnow() - stale > LAST_USED_RESOLUTION:
            _touch_key(db, models.api_key, token.split("_", 2)[1])
    else:
        principal = authenticate_member_token(state.settings.auth_token_secret, token)
    request.state.principal = principal
    request.state.principal_name = principal.name
    structlog.contextvars.bind_contextvars(principal=principal.name)
    return principal


def _touch_key(db, model: type[ApiKeyMixin], key_id: str) -> None:
    try:
        with db.session() as session:
            row = session.get(model, key_id)
            if row is not None:
                row.last_used_at = utcnow()
    except Exception as exc:  # bookkeeping only: never fail the request for it
        log.warning("api_key_touch_failed", error=repr(exc))


OptionalPrincipal = Annotated[Principal | None, Depends(current_principal)]


def require(scope: str) -> Callable[..., Principal]:
    """A dependency: the caller, who must hold `scope` (or the service's admin scope)."""

    def dependency(request: Request, response: Response, principal: OptionalPrincipal) -> Principal:
        if principal is None:
            raise unauthenticated(f"this endpoint needs a credential with the scope {scope}")
        principal.require(scope)
        enforce(request, response, "credential", principal.name)
        return principal

    dependency.__name__ = f"require_{scope.replace(':', '_')}"
    return dependency


def require_department(principal: Principal, department: str) -> None:
    """A department's credential acts for that department only."""
    if principal.department is not None and principal.department != department:
        raise Problem(403, "other-department", "Forbidden 无权操作其他部门",
                      f"this credential acts for {principal.department}, not {department}",
                      credential_department=principal.department, department=department)


def require_meeting(principal: Principal, meeting_id: str) -> None:
    """A member token (a clerk's too) acts on its own meeting only; API keys are not bound."""
    if principal.kind == "member" and principal.meeting_id != meeting_id:
        raise Problem(403, "other-meeting", "Forbidden 令牌不属于本次会议",
                      f"this token is for meeting {principal.meeting_id}, not {meeting_id}")


def require_member(principal: Principal, member_id: str, meeting_id: str | None = None) -> None:
    """A member token acts for its own member (and meeting) only."""
    if principal.kind != "member":
        return
    if principal.member_id != member_id:
        raise Problem(403, "not-your-vote", "Forbidden 只能本人投票",
                      f"this token belongs to member {principal.member_id}, not {member_id}",
                      token_member_id=principal.member_id, member_id=member_id)
    if meeting_id is not None:
        require_meeting(principal, meeting_id)


# --- audit ---------------------------------------------------------------------

AUDIT_CONTEXT = "audit_context"
_PENDING = "audit_pending"
_APPENDING = "audit_appending"


@dataclass
class AuditContext:
    """Who does what in a session; the hook writes it to the chain on commit."""

    actor: str
    action: str
    subject: str | None = None
    detail: dict[str, Any] | None = None


def set_audit_context(session: Session, context: AuditContext | Callable[[], AuditContext], *,
                      pending: bool = False) -> None:
    """`context` may be a callable, read at commit time (a request's caller is
    known only once its credential dependency has run)."""
    session.info[AUDIT_CONTEXT] = context
    session.info[_PENDING] = pending


def install_audit(sessionmaker, model: type[AuditMixin]) -> None:
    """Append an audit entry on every commit of a session that carries an
    `AuditContext` and changed something since its last entry."""

    @event.listens_for(sessionmaker, "after_flush")
    def _changed(session, _flush_context):
        if not session.info.get(_APPENDING) and (session.new or session.dirty or session.deleted):
            session.info[_PENDING] = True

    @event.listens_for(sessionmaker, "do_orm_execute")
    def _bulk_changed(orm_execute_state):
        if orm_execute_state.is_insert or orm_execute_state.is_update or orm_execute_state.is_delete:
            if not orm_execute_state.session.info.get(_APPENDING):
                orm_execute_state.session.info[_PENDING] = True

    @event.listens_for(sessionmaker, "before_commit")
    def _append(session):
        context = session.info.get(AUDIT_CONTEXT)
        if context is None:
            return
        session.flush()
        if not session.info.get(_PENDING):
            return
        if callable(context):
            context = context()
        session.info[_APPENDING] = True
        try:
            audit_chain.append(session, model, actor=context.actor, action=context.action, subject=context.subject,
                               detail=context.detail)
        finally:
            session.info[_APPENDING] = False
        session.info[_PENDING] = False


def request_audit_context(request: Request) -> AuditContext:
    """What a write request's audit entry says: caller, route, path and ids."""
    principal = getattr(request.state, "principal", None)
    route = request.scope.get("route")
    template = getattr(route, "path", request.url.path)
    detail: dict[str, Any] = {"path_params": dict(request.path_params)}
    if request.url.query:
        detail["query"] = request.url.query
    if request_id := getattr(request.state, "request_id", None):
        detail["request_id"] = request_id
    if key := request.headers.get("idempotency-key"):
        detail["idempotency_key"] = key
    return AuditContext(
        actor=principal.name if principal is not None else "public",
        action=f"{request.method} {template}",
        subject=request.url.path,
        detail=detail,
    )
