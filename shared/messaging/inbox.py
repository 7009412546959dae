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
from shared.messaging.events import EVENT_ID_HEADER, REQUEST_ID_HEADER, Envelope, utcnow
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
        # The newest handled record per partition, and one the broker was last
        # seen to hold: how a broker that restarted empty is noticed.
        self.offsets_check_interval = offsets_check_interval
        self._handled_marks: dict = {}
        self._verified_marks: dict = {}
        self._history_checked = time.monotonic()
        self._reader: KafkaConsumer | None = None
        # Partitions being read again from this offset, until a commit from the re-read lands:
        # a rejoin restores the broker's committed offset, which may be a stale one we committed.
        self._rewinds: dict = {}
        self._rebuild = False
        self._reform_group = False  # after this rebuild, delete and re-form a group no join completes in
        self.groups_reformed_total = 0
        self._first_stuck_after = max(10.0, 3 * kafka.session_timeout_ms / 1000)
        self._stuck_after = self._first_stuck_after
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
        from kafka.consumer.subscription_state import ConsumerRebalanceListener

        consumer_ref = self

        class _Listener(ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked):
                pass

            def on_partitions_assigned(self, assigned):
                if consumer_ref.assigned.is_set():
                    consumer_ref.reconnects_total += 1
                    log.info("consumer_partitions_regained", consumer=consumer_ref.name, partitions=len(assigned))
                    # A rejoin often means a restarted broker: check its history on the next round.
                    consumer_ref._history_checked = 0.0
                for tp in assigned:
                    if tp in consumer_ref._rewinds and consumer_ref._consumer is not None:
                        consumer_ref._consumer.seek(tp, consumer_ref._rewinds[tp])
                consumer_ref.assigned.set()

        while not self._stop.is_set():
            consumer = self._connect(_Listener())
            if consumer is None:
                break
            self._consume(consumer)
            self._close(consumer)
            self._consumer = None
            if self._reform_group and not self._stop.is_set():
                self._reform_group = False
                self._reform_stuck_group()
        self._close_reader()
        log.info("consumer_stopped", consumer=self.name)

    def _close(self, consumer: KafkaConsumer) -> None:
        """Leave the group, but not while a join is in flight. Tansu (0.6)
        answers a pending JoinGroup when its member leaves and keeps that
        member, gone, as the group's leader: no join completes after that (seen
        when a consumer was rebuilt just after a broker restart). Waiting the
        join out takes about half a session timeout there; Kafka copes either way."""
        from kafka.structs import MemberState

        coordinator = getattr(consumer, "_coordinator", None)
        deadline = time.monotonic() + self.kafka.session_timeout_ms / 1000

        def joining() -> bool:
            # With no coordinator (the broker away) no LeaveGroup is sent: nothing to wait for.
            return getattr(coordinator, "state", None) is MemberState.REBALANCING and not coordinator.coordinator_unknown()

        while joining() and time.monotonic() < deadline:
            try:
                consumer.poll(timeout_ms=100, max_records=1)  # drives the join; a record fetched is not committed
            except Exception:
                break
        try:
            consumer.close(autocommit=False)
        except Exception as exc:
            log.warning("consumer_close_failed", consumer=self.name, error=repr(exc))

    def _reform_stuck_group(self) -> None:
        """A group no member can join (see `_close`) mends only when deleted;
        its committed offsets are written back. Only an empty group can be
        deleted, so a group with live members is left as it is."""
        from shared.messaging.kafka import reform_group

        try:
            reformed = reform_group(self.kafka, self.group_id)
        except Exception as exc:
            log.warning("consumer_group_reform_failed", consumer=self.name, group=self.group_id, error=repr(exc))
            return
        if reformed is not None:
            self.groups_reformed_total += 1
            log.warning("consumer_group_reformed", consumer=self.name, group=self.group_id, offsets_kept=reformed)

    def _connect(self, listener) -> KafkaConsumer | None:
        from shared.messaging.kafka import ensure_topics, make_consumer

        while not self._stop.is_set() and self._consumer is None:
            self._polling = True  # connecting counts as trying
            try:
                ensure_topics(self.kafka, list(self.handlers))
                self._consumer = make_consumer(self.kafka, group_id=self.group_id, topics=(), client_id=self.name)
                self._consumer.subscribe(list(self.handlers), listener=listener)
            except Exception as exc:
                log.warning("consumer_connect_failed", consumer=self.name, error=repr(exc))
                self._stop.wait(self.retry_backoff * 4)
        if self._consumer is not None:
            log.info("consumer_started", consumer=self.name, group=self.group_id, topics=list(self.handlers))
        return self._consumer

    def _consume(self, consumer: KafkaConsumer) -> None:
        """Poll and handle until stopped, or until the consumer must be built anew."""
        from kafka import OffsetAndMetadata

        self._rebuild = False
        self._unassigned_since = None
        while not self._stop.is_set() and not self._rebuild:
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
                    event_id = dict(record.headers or []).get(EVENT_ID_HEADER)
                    if event_id:
                        self._handled_marks[tp] = (record.offset, event_id.decode())
            if to_commit:
                try:
                    consumer.commit(to_commit)
                    for tp in to_commit:
                        self._rewinds.pop(tp, None)
                except Exception as exc:
                    # The inbox absorbs the redelivery this may cause.
                    log.warning("consumer_commit_failed", consumer=self.name, error=repr(exc))
            self._refresh_lag(consumer)
            self._rewind_if_broker_forgot(consumer)

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
        """A broker restarted empty (Tansu keeps log and groups in memory) is
        refilled by the relays' re-sends from offset 0, and this consumer may
        go on from its old position, even commit it to the new broker, skipping
        what now lies below. Offsets cannot tell; the records can: read back
        the newest handled record of each partition and the one verified last
        round (the same check the relay makes). When the broker no longer holds
        them, read the partition again from its beginning; the inbox drops
        what was handled."""
        from shared.messaging.kafka import make_reader, read_event_ids

        now = time.monotonic()
        # While idle, less often: only handled records move the marks, and a rejoin asks for a check at once.
        interval = self.offsets_check_interval * (1 if self.fetch_wait_ms == self.kafka.fetch_max_wait_ms else 6)
        if not self._handled_marks or now - self._history_checked < interval:
            return
        self._history_checked = now
        assigned = consumer.assignment()
        for marks in (self._handled_marks, self._verified_marks):
            for tp in [tp for tp in marks if tp not in assigned]:
                marks.pop(tp)  # another member reads it now
        try:
            if self._reader is None:
                self._reader = make_reader(self.kafka, client_id=f"{self.name}-history-check")
            reader = self._reader
            existing = reader.topics()  # fresh metadata; a topic not created again yet is checked later
            tps = [tp for tp in self._handled_marks if tp.topic in existing]
            if not tps:
                return
            begin = reader.beginning_offsets(tps, timeout_ms=self.kafka.request_timeout_ms)
            newest = {tp: self._handled_marks[tp] for tp in tps}
            verified = {tp: self._verified_marks[tp] for tp in tps
                        if self._verified_marks.get(tp, newest[tp]) != newest[tp]}
            lost: set = set()
            for wanted in (newest, verified):
                # A record below the beginning went to retention: that is not loss.
                wanted = {tp: mark for tp, mark in wanted.items() if tp not in lost and mark[0] >= begin[tp]}
                held = read_event_ids(reader, {tp: offset for tp, (offset, _) in wanted.items()},
                                      timeout_s=self.kafka.request_timeout_ms / 1000)
                lost |= {tp for tp, (offset, event_id) in wanted.items() if held.get(tp, {}).get(offset) != event_id}
        except Exception as exc:
            log.info("consumer_history_check_failed", consumer=self.name, error=repr(exc))
            self._close_reader()
            return  # the broker is away; try on the next round
        for tp in tps:
            if tp not in lost:
                self._verified_marks[tp] = newest[tp]
                continue
            log.warning("consumer_broker_history_lost", consumer=self.name, topic=tp.topic, partition=tp.partition,
                        handled_offset=newest[tp][0], reading_from=begin[tp])
            self._handled_marks.pop(tp, None)
            self._verified_marks.pop(tp, None)
            self._rewinds[tp] = begin[tp]
            self.reconnects_total += 1
        if lost:
            # Seeking this consumer is not enough: its group membership belongs to
            # the old broker, and kafka-python may never rejoin (seen: no heartbeat
            # error, no assignment, for minutes). A new consumer joins the new
            # broker's group; on assignment it seeks to the rewinds.
            self._rebuild = True

    def _close_reader(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            try:
                reader.close()
            except Exception as exc:  # a broken client may not close cleanly; it is dropped anyway
                log.warning("consumer_reader_close_failed", consumer=self.name, error=repr(exc))

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
            self._stuck_after = self._first_stuck_after
            return
        if self._unassigned_since is None:
            self._unassigned_since = now
        if now - self._unassigned_since > self._stuck_after:
            # A consumer left without partitions (seen after Tansu restarted empty: no
            # assignment and no error, for minutes) heals only with a new client. A
            # member of a group larger than its partitions is also unassigned, so the
            # wait doubles each time (to 5 min): there a rare rebalance is the cost.
            from kafka.coordinator.base import MemberState

            state = getattr(getattr(consumer, "_coordinator", None), "state", None)
            log.warning("consumer_unassigned_rebuilt", consumer=self.name, joined=state == MemberState.STABLE,
                        unassigned_for=round(now - self._unassigned_since, 1),
                        partitions={t: len(consumer.partitions_for_topic(t) or ()) for t in self.handlers})
            self._stuck_after = min(self._stuck_after * 2, 300.0)
            self._rebuild = True
            self._reform_group = state != MemberState.STABLE
            return
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

