"""Idempotency-Key on POSTs that create: a retry with the same key and body gets
the stored response again; the same key with another body is refused (422);
a retry while the first request is still running gets 409.

The key row is written in the same transaction as the effect, so a request
that fails leaves no key behind and can simply be retried.

    @router.post(...)
    def create_thing(data: ThingCreate, session: SessionDep, idem: IdempotencyDep, principal: ...):
        if (stored := idem.replay(session)) is not None:
            return stored
        thing = service.create(session, data)
        body = ThingOut.model_validate(thing)
        idem.record(session, 201, body)
        session.commit()
        return body

The dependency declares the `Idempotency-Key` header, so the OpenAPI shows it;
keys are per caller (the credential's name, or "anonymous").
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy import Integer, String, Text, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from shared.db import UTCDateTime, utcnow
from shared.web.problems import Problem
from shared.security.access import OptionalPrincipal

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"


class IdempotencyKeyMixin:
    """Columns of a service's `idempotency_keys` table; the service declares the model."""

    __tablename__ = "idempotency_keys"

    principal: Mapped[str] = mapped_column(String(200), primary_key=True, doc="keys are per caller")
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(500))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


@dataclass
class Idempotency:
    key: str | None
    principal: str
    method: str
    path: str
    request_hash: str
    model: type[IdempotencyKeyMixin] | None = None  # the service's table, from app.state

    def replay(self, session: Session, model: type[IdempotencyKeyMixin] | None = None) -> JSONResponse | None:
        """The stored response of an earlier request with this key, or None to go ahead.

        Reserves the key for this transaction: a concurrent request with the
        same key waits briefly, then is told the first is still in flight."""
        if self.key is None:
            return None
        model = model or self.model
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SET LOCAL lock_timeout = '200ms'"))
            try:
                # Takes the key's lock until commit; a second request blocks here.
                session.execute(
                    text("SELECT pg_advisory_xact_lock(hashtext(:principal || '/' || :key))").bindparams(
                        principal=self.principal, key=self.key
                    )
                )
            except DBAPIError:
                session.rollback()
                raise in_flight(self.key) from None
            session.execute(text("SET LOCAL lock_timeout = 0"))
        stored = session.get(model, (self.principal, self.key))
        if stored is None:
            return None
        if stored.request_hash != self.request_hash or (stored.method, stored.path) != (self.method, self.path):
            raise Problem(422, "idempotency-key-reused", "Idempotency key reused 幂等键已用于其他请求",
                          f"{HEADER} {self.key} was used with a different request", idempotency_key=self.key)
        return JSONResponse(json.loads(stored.response_body), status_code=stored.status_code,
                            headers={REPLAYED_HEADER: "true"})

    def record(self, session: Session, *args: Any) -> None:
        """`record(session, status_code, body)`, or with the model first as before."""
        if self.key is None:
            return
        model, (status_code, body) = (args[0], args[1:]) if len(args) == 3 else (self.model, args)
        session.add(model(principal=self.principal, key=self.key, method=self.method, path=self.path,
                          request_hash=self.request_hash, status_code=status_code,
                          response_body=json.dumps(jsonable_encoder(body), ensure_ascii=False), created_at=utcnow()))
        try:
            session.flush()
        except IntegrityError:
            # A concurrent first request committed the key meanwhile.
            session.rollback()
            raise in_flight(self.key) from None


def in_flight(key: str) -> Problem:
    return Problem(409, "idempotency-key-in-flight", "Request in progress 相同请求正在处理",
                   f"a request with {HEADER} {key} is still being processed; retry later", idempotency_key=key)


async def idempotency(
    request: Request,
    _principal: OptionalPrincipal,
    key: Annotated[str | None, Header(
        alias=HEADER, min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$",
        description="Any unique string (a UUID): a retry with the same key and body returns the first response "
                    "and changes nothing again; the same key with another body is refused (422).",
    )] = None,
) -> Idempotency:
    models = getattr(request.app.state, "security_models", None)
    model = models.idempotency_key if models is not None else None
    if key is None:  # nothing to replay or record: don't read and hash the body
        return Idempotency(key=None, principal="", method=request.method, path=request.url.path, request_hash="",
                           model=model)
    body = await request.body()
    try:  # the same JSON spelled differently is the same request
        body = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        pass
    principal = getattr(request.state, "principal_name", None) or "anonymous"
    # The query is part of the request: the same key with other parameters is another request.
    target = request.url.path + ("?" + request.url.query if request.url.query else "")
    digest = hashlib.sha256(request.method.encode() + b" " + target.encode() + b"\n" + body).hexdigest()
    return Idempotency(key=key, principal=principal, method=request.method, path=request.url.path, request_hash=digest,
                       model=model)


IdempotencyDep = Annotated[Idempotency, Depends(idempotency)]
