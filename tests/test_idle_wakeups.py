"""Idle loops that wake on work: the relay and the audit linker on a commit
(on Postgres a commit on another replica too), the consumer on the next
event after its fetch wait grew. Each fallback timer is set to an hour, so
only the wake-up can explain the work being done within the bounded wait.
And the loops that wake on a clock wake no more than they must: an idle
consumer's poll once per fetch, uvicorn's tick once a second.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from unittest import mock

import httpx
import pytest
import uvicorn
from kafka import KafkaConsumer, KafkaProducer
from starlette.applications import Starlette

from services.tracking.cases.service import vote_marked_unsatisfied_handler
from services.tracking.models import InboxMessage as TrackingInbox
from services.tracking.models import Investigation
from services.voting.models import OutboxMessage as VotingOutbox
from shared.db import Database
from shared.lease import LeaderLease
from shared.messaging.broker import free_port
from shared.messaging.events import Topic, VoteMarkedUnsatisfied
from shared.messaging.inbox import EventConsumer
from shared.messaging.kafka import ensure_topics, make_consumer
from shared.messaging.outbox import OutboxRelay, enqueue
from shared.security.audit import AuditLinker, append
from shared.web.server import SecondTickServer
from tests.test_audit import AuditEntry, audit_db  # noqa: F401 (fixture)
from tests.test_delivery import ballot_closed, count, kafka_settings, migrated, started  # noqa: F401
from tests.waiting import wait_for as wait_until

pytestmark = pytest.mark.broker

AN_HOUR = 3600.0


def published_event_ids(bootstrap: str, topic: str) -> list[str]:
    reader = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=3000)
    try:
        return [dict(record.headers)["event_id"].decode() for record in reader]
    finally:
        reader.close()


def test_a_committed_event_is_published_without_waiting_for_the_fallback(backend, broker, fresh_database_url, started):
    voting_db = migrated("voting", backend, fresh_database_url)
    relay = OutboxRelay(voting_db, VotingOutbox, kafka_settings(broker.bootstrap), name="voting-test",
                        poll_interval=AN_HOUR, topics=(Topic.BALLOT_CLOSED.value,))
    relay.start()
    started(relay)
    # Its first look found nothing; from now on only a wake-up makes it look again.
    wait_until(lambda: relay.passes_total >= 1)
    assert relay.failures_in_row == 0

    envelope = ballot_closed()
    with voting_db.session() as session:
        enqueue(session, VotingOutbox, envelope)

    wait_until(lambda: relay.published_total == 1, timeout=30)
    assert relay.backlog()[0] == 0
    assert published_event_ids(broker.bootstrap, Topic.BALLOT_CLOSED.value) == [str(envelope.event_id)]


def test_a_commit_on_a_standby_replica_wakes_the_leading_relay(broker, fresh_database_url, started):
    from shared.ops.migrations import upgrade

    url = fresh_database_url("postgres", "voting")
    upgrade("voting", url)
    leader_db, standby_db = Database(url), Database(url)  # two replicas: two processes' engines
    settings = kafka_settings(broker.bootstrap)
    lease = f"test-{uuid.uuid4().hex}"
    relays = [OutboxRelay(db, VotingOutbox, settings, name="voting", poll_interval=AN_HOUR,
                          topics=(Topic.BALLOT_CLOSED.value,), lease=LeaderLease(db, lease))
              for db in (leader_db, standby_db)]
    relays[0].start()
    started(relays[0])
    wait_until(lambda: relays[0].lease.leading)
    relays[1].start()
    started(relays[1])
    wait_until(lambda: relays[0].passes_total >= 1)

    envelope = ballot_closed()
    with standby_db.session() as session:  # a request served by the standby replica
        enqueue(session, VotingOutbox, envelope)

    wait_until(lambda: relays[0].published_total == 1, timeout=30)
    assert relays[1].published_total == 0 and not relays[1].lease.leading
    assert published_event_ids(broker.bootstrap, Topic.BALLOT_CLOSED.value) == [str(envelope.event_id)]


def test_the_linker_seals_a_committed_entry_without_waiting_for_the_fallback(audit_db):  # noqa: F811
    linker = AuditLinker(audit_db, AuditEntry, name="test", interval=0.05, idle_interval=AN_HOUR)
    linker.start()
    try:
        wait_until(lambda: linker.passes_total >= 1)  # sealed what there was; now it sleeps
        with audit_db.session() as session:
            entry = append(session, AuditEntry, actor="clerk-key", action="POST /v1/ballots/{ballot_id}/close")

        def sealed() -> bool:
            with audit_db.session() as session:
                return session.get(AuditEntry, entry.id).seq is not None

        wait_until(sealed, timeout=30)
    finally:
        linker.stop()
    with audit_db.session() as session:
        assert session.get(AuditEntry, entry.id).seq == 6


def test_a_consumer_whose_fetch_wait_grew_while_idle_still_takes_the_next_event(backend, broker, fresh_database_url,
                                                                                 started):
    tracking_db = migrated("tracking", backend, fresh_database_url)
    settings = kafka_settings(broker.bootstrap).model_copy(update={"fetch_max_wait_idle_ms": 3000})
    topic = Topic.VOTE_MARKED_UNSATISFIED.value
    consumer = EventConsumer(tracking_db, TrackingInbox, {topic: vote_marked_unsatisfied_handler(45, "专项调研组")},
                             settings, name="tracking-test", group_id=f"g-{uuid.uuid4().hex[:6]}", idle_after=0.5)
    consumer.start()
    started(consumer)
    wait_until(consumer.assigned.is_set)
    wait_until(lambda: consumer.fetch_wait_ms == 3000)  # idle: asks the broker to wait long

    envelope = VoteMarkedUnsatisfied(
        department="淄博市教育局", evaluation_year=2021, unsatisfied_round=1, vote_round=1,
        ballot_id=str(uuid.uuid4()), meeting_id=str(uuid.uuid4()), meeting_date=dt.date(2021, 8, 26),
    ).envelope(producer="scoring", key="淄博市教育局")
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    producer.send(topic, key=envelope.key.encode(), value=envelope.to_bytes(),
                  headers=[("event_id", str(envelope.event_id).encode())]).get(10)
    producer.close()

    wait_until(lambda: consumer.handled_total == 1, timeout=30)
    assert count(tracking_db, Investigation.id) == 1
    assert consumer.fetch_wait_ms == settings.fetch_max_wait_ms  # events flow: short waits again


def test_an_idle_consumer_polls_once_per_fetch_while_its_heartbeats_go_on(broker):
    """kafka-python's poll used to end each wait at the next heartbeat's time,
    though its network thread sends the heartbeats: with heartbeats ten times a
    second, an idle poll woke ten times a second."""
    topic = f"idle-{uuid.uuid4().hex[:8]}"
    settings = kafka_settings(broker.bootstrap).model_copy(
        update={"heartbeat_interval_ms": 100, "fetch_max_wait_ms": 1000})
    ensure_topics(settings, [topic])
    consumer = make_consumer(settings, group_id=f"g-{uuid.uuid4().hex[:6]}", topics=[topic], client_id="idle-test")
    try:
        wait_until(lambda: consumer.poll(timeout_ms=200) == {} and consumer.assignment(), "an assignment")
        for tp in consumer.assignment():
            consumer.position(tp)  # the offsets are reset; from here on only fetches wait
        consumer.poll(timeout_ms=1000)
        coordinator = consumer._coordinator
        generation = coordinator._generation
        # Spies on kafka-python's own calls: each poll round, each heartbeat sent.
        coordinator.poll = rounds = mock.Mock(wraps=coordinator.poll)
        coordinator.heartbeat.sent_heartbeat = heartbeats = mock.Mock(wraps=coordinator.heartbeat.sent_heartbeat)
        for _ in range(3):
            assert consumer.poll(timeout_ms=1000) == {}
        counts = (rounds.call_count, heartbeats.call_count)
        # Three polls of a second: a round or two each (one fetch waits out its second), not one per heartbeat.
        assert rounds.call_count <= 6, counts
        assert heartbeats.call_count >= 10, counts  # about thirty: the member stays alive
        assert coordinator._generation == generation  # and in the same generation of the group

        producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
        producer.send(topic, b"next").get(10)
        producer.close()
        got = wait_until(lambda: consumer.poll(timeout_ms=1000), "the next record", timeout=30)
        assert [record.value for records in got.values() for record in records] == [b"next"]
    finally:
        consumer.close(autocommit=False)


@contextlib.contextmanager
def serving(server_class) -> Iterator[tuple[uvicorn.Server, str, threading.Thread]]:
    """An empty app on `server_class`, in a thread (so no signal handlers of its own)."""
    port = free_port()
    server = server_class(uvicorn.Config(Starlette(), host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, "the server to start")
        yield server, f"http://127.0.0.1:{port}/", thread
    finally:
        if thread.is_alive():
            server.handle_exit(signal.SIGTERM, None)
            thread.join(30)


def test_the_server_tick_stops_at_once_on_a_stop_signal():
    """uvicorn's loop looks for a stop at each tick; the signal wakes it, so
    even a tick of an hour stops at once."""

    class HourTickServer(SecondTickServer):
        tick_seconds = AN_HOUR

    with serving(HourTickServer) as (server, url, thread):
        assert httpx.get(url).status_code == 404
        server.handle_exit(signal.SIGTERM, None)
        thread.join(30)
        assert not thread.is_alive()


def test_the_date_header_is_renewed_every_second():
    with serving(SecondTickServer) as (_, url, _):
        first = httpx.get(url).headers["date"]
        assert abs(email.utils.parsedate_to_datetime(first).timestamp() - time.time()) < 5
        later = wait_until(lambda: (d := httpx.get(url).headers["date"]) != first and d, "a later Date header",
                           timeout=10)
        assert email.utils.parsedate_to_datetime(later) > email.utils.parsedate_to_datetime(first)
