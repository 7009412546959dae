"""How tracking's endpoints commit a creating POST: once per Idempotency-Key."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from shared.security.idempotency import Idempotency

T = TypeVar("T")
Out = TypeVar("Out", bound=BaseModel)


def refresh(session: Session) -> None:
    """Write what the request changed and forget loaded state, so the response
    built next (and stored for idempotent replays) reads what will commit."""
    session.flush()
    session.expire_all()


def create_once(session: Session, idem: Idempotency, act: Callable[[], T], respond: Callable[[T], Out]) -> Out | JSONResponse:
    """The stored answer of an earlier request with this Idempotency-Key, or
    `act()` answered with `respond(result)`: the key, the effect and the audit
    entry commit together."""
    if (stored := idem.replay(session)) is not None:
        return stored
    result = act()
    refresh(session)
    body = respond(result)
    idem.record(session, 201, body)
    session.commit()
    return body
