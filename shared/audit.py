"""A tamper-evident audit log: every state-changing request and handled event
appended to a hash chain. Each entry's hash is SHA-256 over the canonical JSON
of its content and the previous entry's hash, so editing, inserting or
deleting a row breaks the chain from that row on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Integer, String, Text, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from shared.db import UTCDateTime
from shared.events import utcnow

GENESIS_HASH = "0" * 64


def canonical_json(value: Any) -> str:
    """One spelling per value: sorted keys, no spaces, UTF-8 kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_hash(previous_hash: str, content: dict[str, Any]) -> str:
    return hashlib.sha256((previous_hash + canonical_json(content)).encode("utf-8")).hexdigest()


class AuditMixin:
    """Columns of a service's `audit_log` table; the service declares the model."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(200), doc="API key name, member id, or event:<id>")
    action: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[str] = mapped_column(Text, doc="canonical JSON")
    previous_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    def content(self) -> dict[str, Any]:
        return {
            "at": self.at.astimezone(dt.UTC).isoformat(),
            "actor": self.actor,
            "action": self.action,
            "subject": self.subject,
            "detail": json.loads(self.detail),
        }


def append(session: Session, model: type[AuditMixin], *, actor: str, action: str, subject: str | None = None,
           detail: dict[str, Any] | None = None) -> AuditMixin:
    """Append one entry in the caller's transaction, after the current last one."""
    if session.get_bind().dialect.name == "postgresql":
        # Appenders take turns: each must see the entry it chains to.
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": model.__tablename__})
    last = session.execute(select(model.hash).order_by(model.id.desc()).limit(1)).scalar()
    entry = model(at=utcnow(), actor=actor, action=action, subject=subject, detail=canonical_json(detail or {}))
    entry.previous_hash = last or GENESIS_HASH
    entry.hash = entry_hash(entry.previous_hash, entry.content())
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class ChainCheck:
    entries: int
    first_broken_id: int | None
    reason: str | None

    @property
    def intact(self) -> bool:
        return self.first_broken_id is None


def verify(session: Session, model: type[AuditMixin], *, batch: int = 1000) -> ChainCheck:
    """Walk the chain from the start; name the first entry that does not hold."""
    previous = GENESIS_HASH
    checked = 0
    last_id = 0
    while True:
        rows = session.scalars(select(model).where(model.id > last_id).order_by(model.id).limit(batch)).all()
        if not rows:
            return ChainCheck(checked, None, None)
        for row in rows:
            if row.previous_hash != previous:
                return ChainCheck(checked, row.id, "previous_hash does not match the entry before it (a row was removed or inserted)")
            if entry_hash(previous, row.content()) != row.hash:
                return ChainCheck(checked, row.id, "content does not match its hash (the row was edited)")
            previous = row.hash
            checked += 1
            last_id = row.id
        session.expunge_all()
