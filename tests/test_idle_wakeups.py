"""Idle loops that wake on work: the relay and the audit linker on a commit
(on Postgres a commit on another replica too), the consumer on the next
event after its fetch wait grew. Each fallback timer is set to an hour, so
only the wake-up can explain the work being done within the bounded wait.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from kafka import KafkaConsumer

from services.tracking.cases.service import vote_marked_unsatisfied_handler
from services.tracking.models import InboxMessage as TrackingInbox
from services.tracking.models import Investigation
from services.voting.models import OutboxMessage as VotingOutbox
from shared.security.audit import AuditLinker, append
from shared.db import Database
from shared.messaging.events import Topic, VoteMarkedUnsatisfied
from shared.messaging.inbox import EventConsumer
from shared.lease import LeaderLease
from shared.messaging.outbox import OutboxRelay, enqueue
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

    from kafka import KafkaProducer

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
