"""The security tables every service has, declared once as mixins: API keys
(`shared.security.credentials`), idempotency keys (`shared.security.idempotency`)
and the audit log (`shared.security.audit`), like the outbox's and the inbox's.

A service's `models.py` takes one line per table on its own `Base`, and hands
the four to `create_service_app` as `SecurityModels`:

    class ApiKey(ApiKeyMixin, Base): pass
    class IdempotencyKey(IdempotencyKeyMixin, Base): pass
    class AuditEntry(AuditMixin, Base): pass

Their DDL is `shared.ops.migration_steps.create_security_tables` (and
`link_audit_entries`), which each service's Alembic history calls.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.security.audit import AuditMixin
from shared.security.credentials import ApiKeyMixin
from shared.security.idempotency import IdempotencyKeyMixin
from shared.web.ratelimit import RateLimitCounterMixin

__all__ = ["ApiKeyMixin", "AuditMixin", "IdempotencyKeyMixin", "RateLimitCounterMixin", "SecurityModels"]


@dataclass(frozen=True)
class SecurityModels:
    """A service's credential, idempotency and audit tables."""

    api_key: type[ApiKeyMixin]
    idempotency_key: type[IdempotencyKeyMixin]
    audit_entry: type[AuditMixin]
    # Counts the limits shared through the database (shared.web.ratelimit), where a service has any.
    rate_limit_counter: type[RateLimitCounterMixin] | None = None
