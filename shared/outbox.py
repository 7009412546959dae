"""Transactional outbox: an event is a row written in the same transaction as
the state change it announces; a relay publishes pending rows in order and
marks them sent only after the broker acknowledges.

If the relay dies between publishing and marking, the row is published again:
delivery is at-least-once, and consumers' inboxes make the repeat harmless.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import BigInteger, Index, Integer, String, Text, event, func, select, update
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column

from shared.background import BackgroundLoop
from shared.db import UTCDateTime
from shared.events import EVENT_ID_HEADER, EVENT_TYPE_HEADER, REQUEST_ID_HEADER, Envelope, EventPayload, Producer, utcnow

if TYPE_CHECKING:
    from kafka import KafkaProducer

    from shared.db import Database
    from shared.kafka import KafkaSettings

log = structlog.get_logger(__name__)

_PENDING_FLAG = "pingyi.outbox_pending"


class OutboxMixin:
    """Columns of a service's `outbox` table; the service declares the model."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    topic: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)

    @declared_attr.directive
    def __table_args__(cls) -> tuple:
        return (Index("ix_outbox_pending", "sent_at", "id"),)


def enqueue(session: Session, model: type[OutboxMixin], envelope: Envelope, *, request_id: str | None = None) -> None:
    """Add an event to the outbox inside the caller's transaction."""
    if request_id is None:
        request_id = structlog.contextvars.get_contextvars().get("request_id")
    session.add(
        model(
            event_id=str(envelope.event_id),
            topic=envelope.type,
            key=envelope.key,
            body=envelope.model_dump_json(),
            request_id=request_id,
            created_at=utcnow(),
        )
    )
    session.info[_PENDING_FLAG] = True


def publish(
    session: Session,
    model: type[OutboxMixin],
    payload: EventPayload,
    *,
    producer: Producer,
    key: str,
    request_id: str | None = None,
) -> Envelope:
    """Build the envelope for `payload` and enqueue it; returns the envelope."""
    envelope = payload.envelope(producer=producer, key=key)
    enqueue(session, model, envelope, request_id=request_id)
    return envelope


def outbox_backlog(db: Database, model: type[OutboxMixin]) -> tuple[int, dt.datetime | None]:
    """Pending rows and the creation time of the oldest one."""
    with db.session() as session:
        count, oldest = session.execute(select(func.count(model.id), func.min(model.created_at)).where(model.sent_at.is_(None))).one()
    if oldest is not None and oldest.tzinfo is None:  # SQLite returns the aggregate as naive text
        oldest = dt.datetime.fromisoformat(str(oldest)).replace(tzinfo=dt.UTC)
    return count, oldest


class OutboxRelay(BackgroundLoop):
    """Publishes a service's pending outbox rows to Kafka, oldest first."""

    thread_suffix = "outbox-relay"

    def __init__(
        self,
        db: Database,
        model: type[OutboxMixin],
        kafka: KafkaSettings,
        *,
        name: str,
        batch_size: int = 200,
        poll_interval: float = 0.2,
        producer: KafkaProducer | None = None,
        topics: tuple[str, ...] = (),
    ) -> None:
        self.db = db
        self.model = model
        self.kafka = kafka
        super().__init__(name)
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self._producer = producer
        # Topics to create before the first publish (existing ones are kept).
        self._topics_to_ensure = topics
        self._wake = threading.Event()
        self.last_error: str | None = None
        self.published_total = 0
        # Wake the relay as soon as a transaction carrying an event commits.
        event.listen(db.sessionmaker, "after_commit", self._after_commit)

    def _after_commit(self, session: Session) -> None:
        if session.info.pop(_PENDING_FLAG, False):
            self._wake.set()

    # --- one pass -----------------------------------------------------------

    def _get_producer(self) -> KafkaProducer:
        if self._producer is None:
            from shared.kafka import make_producer

            self._producer = make_producer(self.kafka, client_id=f"{self.name}-relay")
        return self._producer

    def _pending(self) -> list[tuple[int, str, str, str, str, str | None]]:
        m = self.model
        with self.db.session() as session:
            rows = session.execute(
                select(m.id, m.event_id, m.topic, m.key, m.body, m.request_id)
                .where(m.sent_at.is_(None))
                .order_by(m.id)
                .limit(self.batch_size)
            ).all()
        return [tuple(r) for r in rows]

    def _mark_sent(self, ids: list[int]) -> None:
        with self.db.session() as session:
            session.execute(update(self.model).where(self.model.id.in_(ids)).values(sent_at=utcnow()))

    def _record_failure(self, row_id: int, error: str) -> None:
        with self.db.session() as session:
            session.execute(
                update(self.model)
                .where(self.model.id == row_id)
                .values(attempts=self.model.attempts + 1, last_error=error[:2000])
            )

    def run_once(self) -> int:
        """Publish one batch; returns how many rows were acknowledged and marked."""
        rows = self._pending()
        if not rows:
            return 0
        if self._topics_to_ensure:
            from shared.kafka import ensure_topics

            ensure_topics(self.kafka, self._topics_to_ensure)
            self._topics_to_ensure = ()
        producer = self._get_producer()
        futures = []
        for row_id, event_id, topic, key, body, request_id in rows:
            headers = [(EVENT_ID_HEADER, event_id.encode()), (EVENT_TYPE_HEADER, topic.encode())]
            if request_id:
                headers.append((REQUEST_ID_HEADER, request_id.encode()))
            try:
                futures.append((row_id, producer.send(topic, key=key.encode(), value=body.encode(), headers=headers)))
            except Exception as exc:  # metadata unavailable: broker down
                self._record_failure(row_id, repr(exc))
                self.last_error = repr(exc)
                break
        acknowledged: list[int] = []
        for row_id, future in futures:
            try:
                future.get(timeout=self.kafka.delivery_timeout_ms / 1000)
            except Exception as exc:
                # Later rows may have been sent; they stay pending and go again.
                self._record_failure(row_id, repr(exc))
                self.last_error = repr(exc)
                break
            acknowledged.append(row_id)
        if acknowledged:
            self._mark_sent(acknowledged)
            self.published_total += len(acknowledged)
            self.last_error = None
        return len(acknowledged)

    def backlog(self) -> tuple[int, dt.datetime | None]:
        return outbox_backlog(self.db, self.model)

    # --- the loop -----------------------------------------------------------

    def _loop(self) -> None:
        log.info("relay_started", relay=self.name)
        backoff = self.poll_interval
        while not self._stop.is_set():
            try:
                sent = self.run_once()
                backoff = self.poll_interval
            except Exception as exc:
                log.warning("relay_pass_failed", relay=self.name, error=repr(exc))
                self.last_error = repr(exc)
                sent = 0
                backoff = min(backoff * 2, 5.0)
            if sent >= self.batch_size:
                continue
            if self.last_error:
                self._stop.wait(backoff)
            else:
                self._wake.wait(self.poll_interval)
                self._wake.clear()
        # Graceful stop: one last pass so nothing committed stays unsent.
        try:
            while self.run_once() >= self.batch_size:
                pass
        except Exception as exc:
            log.warning("relay_final_pass_failed", relay=self.name, error=repr(exc))
        if self._producer is not None:
            self._producer.close(timeout=5)
            self._producer = None
        log.info("relay_stopped", relay=self.name)

    def _interrupt(self) -> None:
        self._wake.set()

    def close(self) -> None:
        self.stop()
        event.remove(self.db.sessionmaker, "after_commit", self._after_commit)
