"""Inbox and consumer loop: each handled `event_id` is recorded in the same
transaction as the handler's effect, and offsets are committed only after it,
so a redelivered event is recognised and has no second effect.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import Integer, String, Text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Mapped, Session, mapped_column

from shared.background import BackgroundLoop
from shared.db import UTCDateTime
from shared.messaging.events import REQUEST_ID_HEADER, Envelope, utcnow
from shared.security.access import AuditContext, set_audit_context

if TYPE_CHECKING:
    from kafka import KafkaConsumer

    from shared.db import Database
    from shared.messaging.kafka import KafkaSettings

log = structlog.get_logger(__name__)

# A handler applies one event's effect inside the given session (which it must
# not commit); it may enqueue follow-on events in the same transaction.
Handler = Callable[[Session, Envelope], None]


class InboxMixin:
    """Columns of a service's `inbox` table; the service declares the model."""

    __tablename__ = "inbox"

    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    topic: Mapped[str] = mapped_column(String(100))
    producer: Mapped[str] = mapped_column(String(50))
    handled_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # "handled", or "parked": failed every attempt; body and error are kept
    # so nothing is lost and `pingyi events retry` can run it again.
    status: Mapped[str] = mapped_column(String(20), default="handled", server_default="handled")
    attempts: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    error: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str | None] = mapped_column(Text)


class HandleOutcome:
    HANDLED = "handled"
    DUPLICATE = "duplicate"
    PARKED = "parked"  # failed every attempt; kept in the inbox for a retry
    REJECTED = "rejected"  # unparseable or unknown: logged and skipped


def handle_once(
    db: Database, inbox: type[InboxMixin], handler: Handler, envelope: Envelope, *, retry_parked: bool = False
) -> str:
    """Apply `handler` to `envelope` unless its event id is already in the inbox.

    With `retry_parked`, a parked event is handled again; its row turns
    "handled" in the same transaction as the effect."""
    event_id = str(envelope.event_id)
    try:
        with db.session() as session:
            # The effect and its audit entry commit together (see shared.security).
            set_audit_context(session, AuditContext(
                actor=f"event:{event_id}", action=f"handle {envelope.type}", subject=envelope.key,
                detail={"producer": envelope.producer, "occurred_at": envelope.occurred_at.isoformat()}))
            row = session.get(inbox, event_id)
            if row is not None and not (retry_parked and row.status == HandleOutcome.PARKED):
                return HandleOutcome.DUPLICATE if row.status == HandleOutcome.HANDLED else HandleOutcome.PARKED
            if row is None:
                session.add(inbox(event_id=event_id, topic=envelope.type, producer=envelope.producer, handled_at=utcnow()))
            else:
                row.status, row.error, row.body, row.handled_at = HandleOutcome.HANDLED, None, None, utcnow()
            session.flush()
            handler(session, envelope)
    except IntegrityError:
        # Another consumer (a replica mid-rebalance) recorded it first.
        with db.session() as session:
            if session.get(inbox, event_id) is not None:
                return HandleOutcome.DUPLICATE
        raise
    return HandleOutcome.HANDLED


def _database_unavailable(exc: Exception) -> bool:
    if isinstance(exc, OperationalError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def park(db: Database, inbox: type[InboxMixin], envelope: Envelope, error: str, attempts: int) -> None:
    """Keep an event that failed every attempt, with its error, and move on."""
    with db.session() as session:
        row = session.get(inbox, str(envelope.event_id))
        if row is None:
            row = inbox(event_id=str(envelope.event_id), topic=envelope.type, producer=envelope.producer, attempts=0)
            session.add(row)
        row.status = HandleOutcome.PARKED
        row.attempts = (row.attempts or 0) + attempts
        row.error = error[:4000]
        row.body = envelope.model_dump_json()
        row.handled_at = utcnow()


def retry_parked(db: Database, inbox: type[InboxMixin], handlers: Mapping[str, Handler]) -> dict[str, int]:
    """Run every parked event again; those that fail again stay parked."""
    from sqlalchemy import select

    with db.session() as session:
        parked = session.execute(
            select(inbox.event_id, inbox.body).where(inbox.status == HandleOutcome.PARKED).order_by(inbox.handled_at)
        ).all()
    outcome = {"handled": 0, "still_failing": 0}
    for _event_id, body in parked:
        envelope = Envelope.model_validate_json(body)
        try:
            handle_once(db, inbox, handlers[envelope.type], envelope, retry_parked=True)
            outcome["handled"] += 1
        except Exception as exc:
            park(db, inbox, envelope, repr(exc), 1)
            outcome["still_failing"] += 1
    return outcome


class EventConsumer(BackgroundLoop):
    """A consumer-group loop in its own thread, outside the ASGI event loop.

    Its fetch wait adapts: `kafka.fetch_max_wait_ms` while events flow (Tansu
    answers a fetch only when its wait runs out, so this bounds each hop), and
    `kafka.fetch_max_wait_idle_ms` once nothing has come for `idle_after`
    seconds, so an idle service does not ask the broker ten times a second.
    The first event after a quiet spell waits at most the idle wait."""

    thread_suffix = "consumer"

    def __init__(
        self,
        db: Database,
        inbox: type[InboxMixin],
        handlers: Mapping[str, Handler],
        kafka: KafkaSettings,
        *,
        name: str,
        group_id: str,
        retry_backoff: float = 0.5,
        max_attempts: int = 5,
        offsets_check_interval: float = 5.0,
        idle_after: float = 10.0,
    ) -> None:
        self.db = db
        self.inbox = inbox
        self.handlers = dict(handlers)
        self.kafka = kafka
        super().__init__(name)
        self.group_id = group_id
        self.retry_backoff = retry_backoff
        self.max_attempts = max_attempts
        self._attempts: dict[str, int] = {}
        self.parked_total = 0
        self._failures_in_row = 0
        self._consumer: KafkaConsumer | None = None
        self.handled_total = 0
        self.duplicates_total = 0
        self.failed_total = 0
        self.rejected_total = 0
        self.assigned = threading.Event()
        self.reconnects_total = 0  # partitions regained after losing them (a broker restart, a rebalance)
        self._last_poll = time.monotonic()
        self._polling = False  # inside poll() or connecting: a group join may block there for seconds
        self._unassigned_since: float | None = None
        self._topics_checked = 0.0
        # What this process committed, to notice a broker that forgot it.
        self.offsets_check_interval = offsets_check_interval
        self._committed: dict = {}
        self._offsets_checked = time.monotonic()
        # Messages behind the end of each assigned partition, refreshed after polls.
        self.lag: dict[tuple[str, int], int] = {}
        self._lag_checked = 0.0
        self.idle_after = idle_after
        self._last_event = time.monotonic()
        self.fetch_wait_ms = kafka.fetch_max_wait_ms  # the wait asked of the broker now

    def process_record(self, record) -> bool:
        """Handle one Kafka record; False means 'retry it later'."""
        headers = {k: v for k, v in (record.headers or [])}
        request_id = headers.get(REQUEST_ID_HEADER, b"").decode() or None
        try:
            envelope = Envelope.from_bytes(record.value)
        except Exception as exc:
            self.rejected_total += 1
            log.error("event_rejected", consumer=self.name, topic=record.topic, offset=record.offset, error=str(exc))
            return True
        handler = self.handlers.get(envelope.type)
        if handler is None:
            self.rejected_total += 1
            log.error("event_without_handler", consumer=self.name, event_id=str(envelope.event_id), type=envelope.type)
            return True
        bound = log.bind(consumer=self.name, type=envelope.type)
        # The request id travels on: events this handler emits carry it too.
        with structlog.contextvars.bound_contextvars(event_id=str(envelope.event_id), request_id=request_id):
            try:
                outcome = handle_once(self.db, self.inbox, handler, envelope)
            except Exception as exc:
                self.failed_total += 1
                if _database_unavailable(exc):
                    # Not the event's fault: wait for the database, never park for it.
                    bound.warning("event_deferred_database_unavailable", error=repr(exc))
                    return False
                attempts = self._attempts.get(str(envelope.event_id), 0) + 1
                bound.exception("event_failed", error=repr(exc), attempt=attempts)
                if attempts < self.max_attempts:
                    self._attempts[str(envelope.event_id)] = attempts
                    return False
                # Do not block the partition for ever: keep the event aside and go on.
                try:
                    park(self.db, self.inbox, envelope, repr(exc), attempts)
                except Exception as park_exc:
                    bound.warning("event_park_failed", error=repr(park_exc))
                    return False
                self._attempts.pop(str(envelope.event_id), None)
                self.parked_total += 1
                bound.error("event_parked", attempts=attempts)
                return True
            self._attempts.pop(str(envelope.event_id), None)
            self._log_outcome(bound, outcome)
        return True

    def _log_outcome(self, bound, outcome: str) -> None:
        if outcome in (HandleOutcome.DUPLICATE, HandleOutcome.PARKED):
            self.duplicates_total += 1
            bound.info("event_duplicate_skipped", previously=outcome)
        else:
            self.handled_total += 1
            bound.info("event_handled")

    def _loop(self) -> None:
        from kafka import OffsetAndMetadata
        from kafka.consumer.subscription_state import ConsumerRebalanceListener

        from shared.messaging.kafka import ensure_topics, make_consumer

        consumer_ref = self

        class _Listener(ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked):
                pass

            def on_partitions_assigned(self, assigned):
                # Positions now come from the broker's committed offsets: nothing stale to compare.
                consumer_ref._committed.clear()
                if consumer_ref.assigned.is_set():
                    consumer_ref.reconnects_total += 1
                    log.info("consumer_partitions_regained", consumer=consumer_ref.name, partitions=len(assigned))
                consumer_ref.assigned.set()

        while not self._stop.is_set() and self._consumer is None:
            self._polling = True  # connecting counts as trying
            try:
                ensure_topics(self.kafka, list(self.handlers))
                self._consumer = make_consumer(self.kafka, group_id=self.group_id, topics=(), client_id=self.name)
                self._consumer.subscribe(list(self.handlers), listener=_Listener())
            except Exception as exc:
                log.warning("consumer_connect_failed", consumer=self.name, error=repr(exc))
                self._stop.wait(self.retry_backoff * 4)
        consumer = self._consumer
        if consumer is None:
            return
        log.info("consumer_started", consumer=self.name, group=self.group_id, topics=list(self.handlers))
        while not self._stop.is_set():
            self._polling = True
            try:
                # As long as the fetch may wait, at most a second (the loop sees a stop within it).
                batch = consumer.poll(timeout_ms=min(max(200, self.fetch_wait_ms), 1000), max_records=100)
            except Exception as exc:
                log.warning("consumer_poll_failed", consumer=self.name, error=repr(exc))
                self._stop.wait(self.retry_backoff)
                continue
            finally:
                self._polling = False
                self._last_poll = time.monotonic()
            self._adapt_fetch_wait(consumer, bool(batch))
            self._ensure_topics_when_unassigned(consumer)
            to_commit = {}
            # Poll again well within max_poll_interval, or the group drops this
            # member mid-batch (slow handlers, a busy machine): what is left is fetched again.
            budget_ends = time.monotonic() + self.kafka.max_poll_interval_ms / 2000
            handled_one = out_of_time = False
            for tp, records in batch.items():
                for record in records:
                    if self._stop.is_set():
                        break
                    if out_of_time or (handled_one and time.monotonic() > budget_ends):
                        out_of_time = True
                        consumer.seek(tp, record.offset)
                        break
                    handled_one = True
                    try:
                        done = self.process_record(record)
                    except Exception as exc:  # the loop must outlive any one record
                        log.exception("consumer_record_crashed", consumer=self.name, error=repr(exc))
                        done = False
                    if not done:
                        # Rewind so the failed record comes again, after a growing pause.
                        consumer.seek(tp, record.offset)
                        self._failures_in_row += 1
                        self._stop.wait(min(self.retry_backoff * 2 ** (self._failures_in_row - 1), 30.0))
                        break
                    self._failures_in_row = 0
                    to_commit[tp] = OffsetAndMetadata(record.offset + 1, "", -1)
            if to_commit:
                try:
                    consumer.commit(to_commit)
                    self._committed.update({tp: meta.offset for tp, meta in to_commit.items()})
                except Exception as exc:
                    # The inbox absorbs the redelivery this may cause.
                    log.warning("consumer_commit_failed", consumer=self.name, error=repr(exc))
            self._refresh_lag(consumer)
            self._rewind_if_broker_forgot(consumer)
        try:
            consumer.close(autocommit=False)
        except Exception as exc:
            log.warning("consumer_close_failed", consumer=self.name, error=repr(exc))
        self._consumer = None
        log.info("consumer_stopped", consumer=self.name)

    def _adapt_fetch_wait(self, consumer: KafkaConsumer, got_records: bool) -> None:
        """Short fetch wait while events flow, long once idle (the next fetch request uses it)."""
        now = time.monotonic()
        if got_records:
            self._last_event = now
            wanted = self.kafka.fetch_max_wait_ms
        elif now - self._last_event >= self.idle_after:
            wanted = max(self.kafka.fetch_max_wait_idle_ms, self.kafka.fetch_max_wait_ms)
        else:
            return
        if wanted != self.fetch_wait_ms:
            fetcher = getattr(consumer, "_fetcher", None)
            if fetcher is None or "fetch_max_wait_ms" not in fetcher.config:
                return  # another kafka-python: keep the configured wait
            fetcher.config["fetch_max_wait_ms"] = wanted
            log.debug("consumer_fetch_wait", consumer=self.name, fetch_max_wait_ms=wanted)
            self.fetch_wait_ms = wanted

    def _rewind_if_broker_forgot(self, consumer: KafkaConsumer) -> None:
        """A broker restarted empty (Tansu keeps groups in memory) forgets the
        group, and kafka-python may not notice: it keeps fetching from where it
        was, past the events the refilled partition now holds below that point.
        When the committed offsets fall behind what we committed, read those
        partitions again from what the broker has (the inbox drops repeats)."""
        now = time.monotonic()
        # While idle, less often: a broker that restarted also fails the heartbeat, and the rejoin resets positions.
        interval = self.offsets_check_interval * (1 if self.fetch_wait_ms == self.kafka.fetch_max_wait_ms else 6)
        if not self._committed or now - self._offsets_checked < interval:
            return
        self._offsets_checked = now
        assigned = consumer.assignment()
        for tp in [tp for tp in self._committed if tp not in assigned]:
            self._committed.pop(tp, None)
        try:
            # One request for every partition (consumer.committed asks for one at a time).
            held = consumer._coordinator.fetch_committed_offsets(list(self._committed), timeout_ms=1000)
        except Exception:
            return  # the broker is away; try on the next round
        for tp, ours in list(self._committed.items()):
            theirs = held[tp].offset if held.get(tp) is not None and held[tp].offset >= 0 else None
            if theirs is not None and theirs >= ours:
                continue
            log.warning("consumer_offsets_lost", consumer=self.name, topic=tp.topic, partition=tp.partition,
                        committed=ours, broker_has=theirs)
            self._committed.pop(tp, None)
            if theirs is None:
                consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, theirs)
            self.reconnects_total += 1

    def seconds_since_poll(self) -> float:
        """How long the loop has been away from the broker (0 while it polls or connects)."""
        return 0.0 if self._polling else time.monotonic() - self._last_poll

    def _ensure_topics_when_unassigned(self, consumer: KafkaConsumer) -> None:
        """A broker restarted empty has none of our topics, and consumers do not
        create them: with no partitions for a while, create them with the
        configured partitions and refresh the metadata so the group rebalances."""
        now = time.monotonic()
        if consumer.assignment():
            self._unassigned_since = None
            return
        if self._unassigned_since is None:
            self._unassigned_since = now
        if now - self._unassigned_since < 1.0 or now - self._topics_checked < 2.0:
            return
        self._topics_checked = now
        from shared.messaging.kafka import ensure_topics

        try:
            ensure_topics(self.kafka, list(self.handlers))
            consumer.topics()
        except Exception as exc:
            log.warning("consumer_topics_unavailable", consumer=self.name, error=repr(exc))

    def _refresh_lag(self, consumer: KafkaConsumer) -> None:
        now = time.monotonic()
        # While idle the lag only changes when events come, and then the poll returns them.
        if now - self._lag_checked < (1.0 if self.fetch_wait_ms == self.kafka.fetch_max_wait_ms else 10.0):
            return
        self._lag_checked = now
        lag = {}
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue
            try:
                lag[(tp.topic, tp.partition)] = max(0, highwater - consumer.position(tp, timeout_ms=200))
            except Exception:
                continue
        self.lag = lag

