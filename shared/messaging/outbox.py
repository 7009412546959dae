"""Transactional outbox: an event is a row written in the same transaction as
the state change it announces; a relay publishes pending rows in order and
marks them sent only after the broker acknowledges, keeping the partition and
offset the broker gave it.

If the relay dies between publishing and marking, the row is published again:
delivery is at-least-once, and consumers' inboxes make the repeat harmless.
The relay heals without a restart: a failing producer is closed and built
anew (with capped backoff), topics are ensured again after a failure, and
what the broker acknowledged but no longer holds (a broker restarted empty,
a truncated partition) is found by reading it back and published again.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import BigInteger, Index, Integer, String, Text, func, select, update
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column

from shared.background import CommitWokenLoop
from shared.db import UTCDateTime
from shared.messaging.events import EVENT_ID_HEADER, EVENT_TYPE_HEADER, REQUEST_ID_HEADER, Envelope, EventPayload, Producer, utcnow
from shared.wakeup import CommitSignal

if TYPE_CHECKING:
    from kafka import KafkaConsumer, KafkaProducer

    from shared.db import Database
    from shared.messaging.kafka import KafkaSettings
    from shared.lease import LeaderLease

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
    # Where the broker put the row when it acknowledged it: the broker-loss check reads it back.
    broker_partition: Mapped[int | None] = mapped_column(Integer)
    broker_offset: Mapped[int | None] = mapped_column(BigInteger)

    @declared_attr.directive
    def __table_args__(cls) -> tuple:
        return (
            Index("ix_outbox_pending", "sent_at", "id"),
            Index("ix_outbox_broker_position", "topic", "broker_partition", "broker_offset"),
        )


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


def mark_for_resend(db: Database, model: type[OutboxMixin], *, since: dt.datetime | None = None,
                    from_id: int | None = None, ids: list[int] | None = None) -> int:
    """Turn sent rows pending again so the relay publishes them once more, in id
    order; the consumers' inboxes drop what they already handled. Returns how many."""
    conditions = [model.sent_at.is_not(None)]
    if since is not None:
        conditions.append(model.created_at >= since)
    if from_id is not None:
        conditions.append(model.id >= from_id)
    if ids is not None:
        conditions.append(model.id.in_(ids))
    with db.session() as session:
        result = session.execute(
            update(model).where(*conditions).values(sent_at=None, broker_partition=None, broker_offset=None)
        )
        session.info[_PENDING_FLAG] = True  # the relay (on Postgres: of any replica) wakes on commit
    return result.rowcount or 0


class RelayPassFailed(Exception):
    """A publish pass failed; the cause is chained."""


class BrokerUnreachable(Exception):
    """No broker answers on any bootstrap address."""


def _failure_cause(exc: BaseException) -> str:
    """A short, bounded label for metrics: the exception's class."""
    return type(exc).__name__


def _producer_is_broken(exc: BaseException) -> bool:
    """kafka-python marks errors a retry cannot fix as not retriable; after one
    the producer may never send again (a fatal sender error), so it is rebuilt."""
    from kafka.errors import KafkaError

    return isinstance(exc, KafkaError) and not getattr(exc, "retriable", False)


class OutboxRelay(CommitWokenLoop):
    """Publishes a service's pending outbox rows to Kafka, oldest first.

    With a `lease`, only the replica holding it publishes (the others stand by).

    It wakes when a transaction that enqueued an event commits (`CommitSignal`);
    `poll_interval` is only the fallback for commits it cannot hear (another
    process on SQLite). A failed pass is retried after `retry_interval`,
    doubling up to `backoff_max`."""

    thread_suffix = "outbox-relay"

    def __init__(
        self,
        db: Database,
        model: type[OutboxMixin],
        kafka: KafkaSettings,
        *,
        name: str,
        batch_size: int = 200,
        poll_interval: float = 5.0,
        retry_interval: float = 0.1,
        producer: KafkaProducer | None = None,
        topics: tuple[str, ...] = (),
        backoff_max: float = 5.0,
        rebuild_after: int = 3,
        loss_check_interval: float = 10.0,
        resend_horizon: dt.timedelta = dt.timedelta(days=7),
        lease: LeaderLease | None = None,
    ) -> None:
        self.db = db
        self.model = model
        self.kafka = kafka
        super().__init__(name)
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.retry_interval = retry_interval
        self.backoff_max = backoff_max
        self.rebuild_after = rebuild_after
        self.loss_check_interval = loss_check_interval
        self.resend_horizon = resend_horizon
        self.lease = lease
        self._producer = producer
        self._reader: KafkaConsumer | None = None
        # Topics to create before publishing; again after every failure, since
        # a broker that restarted empty has none (existing ones are kept).
        self._topics = tuple(topics)
        self._topics_ensured = False
        self.last_error: str | None = None
        self.published_total = 0
        self.passes_total = 0  # looks at the outbox by the loop
        self.failures_in_row = 0
        self.failures_by_cause: Counter[str] = Counter()
        self.rebuilds_total = 0
        self.resent_total = 0
        self.broker_losses_total = 0
        # Per partition, the last row read back from the broker: (offset, event id).
        self._verified: dict[tuple[str, int], tuple[int, str]] = {}
        self._check_due = 0.0  # on start, after every failure, then every loss_check_interval
        self._wake: CommitSignal | None = None  # while running: set when a transaction carrying an event commits

    @property
    def leading(self) -> bool:
        return self.lease is None or self.lease.leading

    # --- clients ------------------------------------------------------------

    def _get_producer(self) -> KafkaProducer:
        if self._producer is None:
            from shared.messaging.kafka import make_producer

            self._producer = make_producer(self.kafka, client_id=f"{self.name}-relay")
        return self._producer

    def _get_reader(self) -> KafkaConsumer:
        if self._reader is None:
            from shared.messaging.kafka import make_reader

            self._reader = make_reader(self.kafka, client_id=f"{self.name}-relay-check")
        return self._reader

    def _close_clients(self, timeout: float = 0) -> None:
        producer, self._producer = self._producer, None
        reader, self._reader = self._reader, None
        for client, close in ((producer, lambda c: c.close(timeout=timeout)), (reader, lambda c: c.close())):
            if client is None:
                continue
            try:
                close(client)
            except Exception as exc:  # a broken client may not close cleanly; it is dropped anyway
                log.warning("relay_client_close_failed", relay=self.name, error=repr(exc))

    def _ensure_topics(self) -> None:
        if self._topics and not self._topics_ensured:
            from shared.messaging.kafka import ensure_topics

            ensure_topics(self.kafka, self._topics)
            self._topics_ensured = True

    # --- one pass -----------------------------------------------------------

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

    def _mark_sent(self, acknowledged: list[tuple[int, int, int]]) -> None:
        now = utcnow()
        with self.db.session() as session:
            session.execute(update(self.model), [
                {"id": row_id, "sent_at": now, "broker_partition": partition, "broker_offset": offset}
                for row_id, partition, offset in acknowledged
            ])

    def _record_failure(self, row_ids: list[int], error: str) -> None:
        """One write per failed pass, however many rows wait: attempts and the error on each."""
        if not row_ids:
            return
        with self.db.session() as session:
            session.execute(
                update(self.model)
                .where(self.model.id.in_(row_ids))
                .values(attempts=self.model.attempts + 1, last_error=error[:2000])
            )

    def run_once(self) -> int:
        """Publish one batch; returns how many rows were acknowledged and marked.

        A failure is recorded on the rows still pending and raised as RelayPassFailed."""
        rows = self._pending()
        if not rows:
            return 0
        acknowledged: list[tuple[int, int, int]] = []
        try:
            self._ensure_topics()
            producer = self._get_producer()
            futures = []
            for row_id, event_id, topic, key, body, request_id in rows:
                headers = [(EVENT_ID_HEADER, event_id.encode()), (EVENT_TYPE_HEADER, topic.encode())]
                if request_id:
                    headers.append((REQUEST_ID_HEADER, request_id.encode()))
                futures.append((row_id, producer.send(topic, key=key.encode(), value=body.encode(), headers=headers)))
            deadline = time.monotonic() + self.kafka.delivery_timeout_ms / 1000
            for row_id, future in futures:
                # Later rows may have been sent too; they stay pending and go again.
                metadata = self._acknowledgement(future, deadline)
                acknowledged.append((row_id, metadata.partition, metadata.offset))
        except Exception as exc:
            done = {row_id for row_id, _, _ in acknowledged}
            if acknowledged:
                self._mark_sent(acknowledged)
                self.published_total += len(acknowledged)
            self._record_failure([r[0] for r in rows if r[0] not in done], repr(exc))
            raise RelayPassFailed(repr(exc)) from exc
        self._mark_sent(acknowledged)
        self.published_total += len(acknowledged)
        return len(acknowledged)

    def _acknowledgement(self, future, deadline: float):
        """Wait for the broker's answer; give up as soon as the broker cannot be
        reached, so the batch does not stay queued in the producer (see `_failed`)."""
        from kafka.errors import KafkaTimeoutError

        from shared.messaging.kafka import broker_reachable

        while True:
            try:
                return future.get(timeout=max(0.05, min(1.0, deadline - time.monotonic())))
            except KafkaTimeoutError:
                if future.is_done or time.monotonic() >= deadline:
                    raise
                if not broker_reachable(self.kafka, timeout=0.2):
                    raise BrokerUnreachable(f"no broker at {self.kafka.bootstrap_servers} while a send waited") from None

    def backlog(self) -> tuple[int, dt.datetime | None]:
        return outbox_backlog(self.db, self.model)

    # --- failures -----------------------------------------------------------

    def _failed(self, exc: BaseException) -> None:
        cause = exc.__cause__ or exc
        self.failures_in_row += 1
        self.failures_by_cause[_failure_cause(cause)] += 1
        self.last_error = repr(cause)
        # Whatever the broker lost while we could not reach it, and its topics, are checked again.
        self._topics_ensured = False
        self._check_due = 0.0
        from shared.messaging.kafka import broker_reachable

        # While the broker is away the producer is dropped with what it queued: a
        # restarted Tansu would take a queued batch before our topics are ensured
        # and create the topic itself, with its own partition count.
        rebuild = (_producer_is_broken(cause) or self.failures_in_row % self.rebuild_after == 0
                   or not broker_reachable(self.kafka, timeout=0.2))
        log.warning("relay_pass_failed", relay=self.name, error=repr(cause), failures_in_row=self.failures_in_row,
                    rebuild=rebuild)
        if rebuild and (self._producer is not None or self._reader is not None):
            self._close_clients()
            self.rebuilds_total += 1

    def _succeeded(self) -> None:
        if self.failures_in_row:
            log.info("relay_recovered", relay=self.name, after_failures=self.failures_in_row)
        self.failures_in_row = 0
        self.last_error = None

    def backoff(self) -> float:
        """Wait before the next try: doubling from the retry interval, capped."""
        if not self.failures_in_row:
            return self.poll_interval
        return min(self.retry_interval * 2 ** (self.failures_in_row - 1), self.backoff_max)

    def _wait_to_retry(self) -> None:
        """Back off; but while the broker cannot even be reached, try again as
        soon as a probe reaches it (its return is not left waiting on the backoff)."""
        from shared.messaging.kafka import broker_reachable

        deadline = time.monotonic() + self.backoff()
        if broker_reachable(self.kafka, timeout=0.2):
            self._stop.wait(max(0.0, deadline - time.monotonic()))
            return
        while not self._stop.wait(min(0.1, max(0.0, deadline - time.monotonic()))):
            if time.monotonic() >= deadline or broker_reachable(self.kafka, timeout=0.2):
                return

    # --- broker-loss check --------------------------------------------------

    def check_broker(self) -> int:
        """Read back what the broker acknowledged; make what it no longer holds
        pending again (published anew, in id order). Returns how many rows.

        Each partition's newest acknowledged row (and the one verified last
        time, which catches a broker that restarted empty and has since been
        refilled past it) is fetched at its offset and its event id compared.
        End offsets alone are not trusted: Tansu reports the start of its
        last batch, not the high watermark."""
        from kafka import TopicPartition

        from shared.messaging.kafka import read_event_ids

        m = self.model
        horizon = utcnow() - self.resend_horizon
        with self.db.session() as session:
            partitions = session.execute(
                select(m.topic, m.broker_partition, func.max(m.broker_offset))
                .where(m.sent_at >= horizon, m.broker_offset.is_not(None))
                .group_by(m.topic, m.broker_partition)
            ).all()
            newest: dict[tuple[str, int], tuple[int, str]] = {}
            for topic, partition, offset in partitions:
                event_id = session.scalar(select(m.event_id).where(
                    m.topic == topic, m.broker_partition == partition, m.broker_offset == offset,
                    m.sent_at >= horizon).order_by(m.id.desc()).limit(1))
                newest[(topic, partition)] = (offset, event_id)
        if not newest:
            return 0
        reader = self._get_reader()
        existing = reader.topics()  # fresh metadata: a broker restarted empty has no topics
        missing = {topic for topic, _ in newest} - existing
        if missing:
            from shared.messaging.kafka import ensure_topics

            ensure_topics(self.kafka, sorted(missing | set(self._topics)))
            self._topics_ensured = True
            reader.topics()
        tps = [TopicPartition(t, p) for t, p in newest]
        begin = reader.beginning_offsets(tps, timeout_ms=self.kafka.request_timeout_ms)
        # Up to two rows per partition; those below the beginning went to retention, not loss.
        newest_rows = {tp: newest[(tp.topic, tp.partition)] for tp in tps}
        verified_rows = {tp: self._verified[(tp.topic, tp.partition)] for tp in tps
                         if self._verified.get((tp.topic, tp.partition), newest_rows[tp]) != newest_rows[tp]}
        lost: set = set()
        for wanted in (newest_rows, verified_rows):
            wanted = {tp: row for tp, row in wanted.items() if tp not in lost and row[0] >= begin[tp]}
            held = read_event_ids(reader, {tp: offset for tp, (offset, _) in wanted.items()},
                                  timeout_s=self.kafka.request_timeout_ms / 1000)
            lost |= {tp for tp, (offset, event_id) in wanted.items() if held.get(tp, {}).get(offset) != event_id}
        for tp in tps:
            key = (tp.topic, tp.partition)
            if tp in lost:
                self._verified.pop(key, None)
            else:
                self._verified[key] = newest[key]
        return self._resend_lost(reader, {tp: begin[tp] for tp in tps if tp in lost}, horizon)

    def _resend_lost(self, reader: KafkaConsumer, begins: dict, horizon: dt.datetime) -> int:
        """Make pending again what the broker no longer holds in these partitions
        (each read from its first acknowledged row to the end, all at once)."""
        if not begins:
            return 0
        from shared.messaging.kafka import read_event_ids

        m = self.model
        sent: dict = {}
        with self.db.session() as session:
            for tp, begin in begins.items():
                rows = session.execute(
                    select(m.id, m.event_id, m.broker_offset)
                    .where(m.topic == tp.topic, m.broker_partition == tp.partition, m.sent_at >= horizon,
                           m.broker_offset.is_not(None), m.broker_offset >= begin)
                    .order_by(m.broker_offset)
                ).all()
                if rows:
                    sent[tp] = rows
        if not sent:
            return 0
        held = read_event_ids(reader, {tp: rows[0].broker_offset for tp, rows in sent.items()},
                              timeout_s=self.kafka.request_timeout_ms / 1000, through=True)
        lost: list[int] = []
        for tp, rows in sent.items():
            gone = [row.id for row in rows if held[tp].get(row.broker_offset) != row.event_id]
            if not gone:
                continue
            lost += gone
            self.broker_losses_total += 1
            log.error("broker_lost_events", relay=self.name, topic=tp.topic, partition=tp.partition, resent=len(gone),
                      still_held=len(rows) - len(gone))
        if not lost:
            return 0
        resent = mark_for_resend(self.db, m, ids=lost)
        self.resent_total += resent
        return resent

    def _check_if_due(self) -> None:
        if time.monotonic() < self._check_due:
            return
        try:
            self.check_broker()
        except Exception as exc:
            raise RelayPassFailed(repr(exc)) from exc
        self._check_due = time.monotonic() + self.loss_check_interval

    # --- the loop -----------------------------------------------------------

    def _loop(self) -> None:
        log.info("relay_started", relay=self.name)
        while not self._stop.is_set():
            if self.lease is not None and not self.lease.held():
                self._stop.wait(self.lease.retry_interval)  # a standby: another replica publishes
                continue
            sent = 0
            try:
                self._check_if_due()  # before publishing: what was lost goes out first, in order
                sent = self.run_once()
                self._succeeded()
            except Exception as exc:
                self._failed(exc)
            self.passes_total += 1
            if sent >= self.batch_size:
                continue
            if self.failures_in_row:
                self._wait_to_retry()
            else:
                self._wake.wait(self.poll_interval)
        # Graceful stop: one last pass so nothing committed stays unsent.
        try:
            if self.leading:
                while self.run_once() >= self.batch_size:
                    pass
        except Exception as exc:
            log.warning("relay_final_pass_failed", relay=self.name, error=repr(exc))
        self._close_clients(timeout=5)
        if self.lease is not None:
            self.lease.release()
        log.info("relay_stopped", relay=self.name)

    def _commit_signal(self) -> CommitSignal:
        return CommitSignal(self.db, flag=_PENDING_FLAG, channel=f"pingyi_{self.name}_outbox")

    def close(self) -> None:
        self.stop()
