"""At-least-once delivery through a real Tansu broker: the outbox holds events
while the broker is down, the relay may publish twice, and the inbox makes a
repeat harmless.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid

import pytest
from kafka import KafkaConsumer, KafkaProducer
from sqlalchemy import func, select

from services.scoring.domain.satisfaction import SatisfactionRule
from services.scoring.models import InboxMessage as ScoringInbox
from services.scoring.models import OutboxMessage as ScoringOutbox
from services.scoring.models import SatisfactionResult
from services.scoring.handlers import ballot_closed_handler
from services.tracking.cases.service import vote_marked_unsatisfied_handler
from services.tracking.models import InboxMessage as TrackingInbox
from services.tracking.models import Investigation, UnsatisfiedRound
from services.tracking.models import OutboxMessage as TrackingOutbox
from services.voting.models import OutboxMessage as VotingOutbox
from shared.messaging.broker import TansuBroker, free_port
from shared.db import Database
from shared.messaging.events import (
    BallotClosed,
    BallotSubject,
    Tally,
    Topic,
    VoteMarkedUnsatisfied,
    utcnow,
)
from shared.messaging.inbox import EventConsumer
from shared.messaging.kafka import KafkaSettings
from shared.ops.migrations import upgrade
from shared.messaging.outbox import OutboxRelay, enqueue
from tests.conftest import FAST_KAFKA
from tests.conftest import _postgres_url as postgres_url
from tests.waiting import wait_for as wait_until

pytestmark = pytest.mark.broker


def kafka_settings(bootstrap: str) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=bootstrap,
        session_timeout_ms=FAST_KAFKA["kafka_session_timeout_ms"],
        heartbeat_interval_ms=FAST_KAFKA["kafka_heartbeat_interval_ms"],
        max_poll_interval_ms=FAST_KAFKA["kafka_max_poll_interval_ms"],
        request_timeout_ms=FAST_KAFKA["kafka_request_timeout_ms"],
        max_block_ms=FAST_KAFKA["kafka_max_block_ms"],
        bootstrap_timeout_ms=FAST_KAFKA["kafka_bootstrap_timeout_ms"],
    )


def migrated(service: str, backend: str, fresh_database_url) -> Database:
    url = fresh_database_url(backend, service)
    upgrade(service, url)
    return Database(url)


def count(db: Database, column) -> int:
    with db.session() as session:
        return session.scalar(select(func.count(column)))


def ballot_closed(department: str = "淄博市民政局"):
    return BallotClosed(
        ballot_id=str(uuid.uuid4()),
        ballot_kind="satisfaction",
        meeting_id=str(uuid.uuid4()),
        meeting_number="第四十四次会议",
        meeting_date=dt.date(2021, 8, 26),
        subject=BallotSubject(department=department, evaluation_year=2021, vote_round=1),
        tally=Tally(counts={"satisfied": 10, "basically_satisfied": 5, "unsatisfied": 30}, votes_cast=45, present=50, members_total=60),
        closed_at=utcnow(),
    ).envelope(producer="voting", key="ballot")


@pytest.fixture
def started():
    """Collects relays and consumers and stops them after the test."""
    parts = []
    yield parts.append
    for part in reversed(parts):
        part.stop()


def test_same_event_delivered_twice_has_one_effect(backend, broker, fresh_database_url, started):
    tracking_db = migrated("tracking", backend, fresh_database_url)
    consumer = EventConsumer(
        tracking_db, TrackingInbox,
        {Topic.VOTE_MARKED_UNSATISFIED.value: vote_marked_unsatisfied_handler(45, "专项调研组")},
        kafka_settings(broker.bootstrap), name="tracking-test", group_id=f"g-{uuid.uuid4().hex[:6]}",
    )
    consumer.start()
    started(consumer)

    envelope = VoteMarkedUnsatisfied(
        department="淄博市教育局", evaluation_year=2021, unsatisfied_round=1, vote_round=1,
        ballot_id=str(uuid.uuid4()), meeting_id=str(uuid.uuid4()), meeting_date=dt.date(2021, 8, 26),
    ).envelope(producer="scoring", key="淄博市教育局")
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    for _ in range(2):
        producer.send(Topic.VOTE_MARKED_UNSATISFIED.value, key=envelope.key.encode(), value=envelope.to_bytes(),
                      headers=[("event_id", str(envelope.event_id).encode())]).get(10)
    producer.close()

    wait_until(lambda: consumer.handled_total + consumer.duplicates_total >= 2)
    assert consumer.handled_total == 1
    assert consumer.duplicates_total == 1
    assert count(tracking_db, UnsatisfiedRound.id) == 1
    assert count(tracking_db, Investigation.id) == 1
    assert count(tracking_db, TrackingOutbox.id) == 1  # one rereport.scheduled


def test_event_written_while_broker_is_down_arrives_after_it_returns(backend, fresh_database_url, tmp_path, started):
    voting_db = migrated("voting", backend, fresh_database_url)
    port = free_port()
    settings = kafka_settings(f"127.0.0.1:{port}")
    relay = OutboxRelay(voting_db, VotingOutbox, settings, name="voting-test", poll_interval=0.1, topics=(Topic.BALLOT_CLOSED.value,))

    envelope = ballot_closed()
    with voting_db.session() as session:
        enqueue(session, VotingOutbox, envelope)

    # Nothing listens: the pass fails, the row stays pending with the error recorded.
    with pytest.raises(Exception):
        relay.run_once()
    pending, oldest = relay.backlog()
    assert pending == 1 and oldest is not None

    relay.start()
    started(relay)
    time.sleep(1.0)
    assert relay.backlog()[0] == 1

    with TansuBroker(port=port, log_path=tmp_path / "tansu.log") as tansu:
        wait_until(lambda: relay.backlog()[0] == 0)
        consumer = KafkaConsumer(Topic.BALLOT_CLOSED.value, bootstrap_servers=tansu.bootstrap, auto_offset_reset="earliest")
        received = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not received:
            for records in consumer.poll(timeout_ms=200).values():
                received.extend(records)
        for records in consumer.poll(timeout_ms=1000).values():  # anything more would be a duplicate
            received.extend(records)
        consumer.close()
        relay.stop()
    assert [r.value for r in received] == [envelope.to_bytes()]
    assert dict(received[0].headers)["event_id"] == str(envelope.event_id).encode()


def test_relay_killed_between_publish_and_mark_sent_causes_no_double_effect(backend, broker, fresh_database_url, started):
    voting_db = migrated("voting", backend, fresh_database_url)
    scoring_db = migrated("scoring", backend, fresh_database_url)
    settings = kafka_settings(broker.bootstrap)

    envelope = ballot_closed()
    with voting_db.session() as session:
        enqueue(session, VotingOutbox, envelope)

    class KilledBeforeMarking(OutboxRelay):
        def _mark_sent(self, ids):
            raise SystemExit("relay killed after the broker acknowledged")

    first = KilledBeforeMarking(voting_db, VotingOutbox, settings, name="voting-first", topics=(Topic.BALLOT_CLOSED.value,))
    with pytest.raises(SystemExit):
        first.run_once()
    first.close()
    assert first.backlog()[0] == 1  # published, yet still pending

    second = OutboxRelay(voting_db, VotingOutbox, settings, name="voting-second")
    assert second.run_once() == 1  # the same row goes out again
    assert second.backlog()[0] == 0
    second.close()

    consumer = EventConsumer(
        scoring_db, ScoringInbox, {Topic.BALLOT_CLOSED.value: ballot_closed_handler(SatisfactionRule())},
        settings, name="scoring-test", group_id=f"g-{uuid.uuid4().hex[:6]}",
    )
    consumer.start()
    started(consumer)
    wait_until(lambda: consumer.handled_total + consumer.duplicates_total >= 2)
    assert (consumer.handled_total, consumer.duplicates_total) == (1, 1)
    assert count(scoring_db, SatisfactionResult.id) == 1
    # One score.computed and one vote.marked_unsatisfied, not two of each.
    with scoring_db.session() as session:
        topics = sorted(session.scalars(select(ScoringOutbox.topic)))
    assert topics == [Topic.SCORE_COMPUTED.value, Topic.VOTE_MARKED_UNSATISFIED.value]


def _operator_headers(url: str) -> dict[str, str]:
    from services.voting.models import SECURITY_MODELS
    from shared.security.credentials import create_api_key

    db = Database(url)
    try:
        with db.session() as session:
            key = create_api_key(session, SECURITY_MODELS.api_key, name="operator", scopes=["voting:admin"])
    finally:
        db.dispose()
    return {"Authorization": f"Bearer {key}"}


def test_service_keeps_serving_http_while_broker_is_down(backend, fresh_database_url):
    from fastapi.testclient import TestClient

    from services.voting.app import create_app
    from services.voting.settings import VotingSettings

    url = fresh_database_url(backend, "voting")
    upgrade("voting", url)
    settings = VotingSettings(database_url=url, kafka_bootstrap_servers=f"127.0.0.1:{free_port()}", log_json=False,
                              **FAST_KAFKA)
    with TestClient(create_app(settings)) as client:
        client.headers.update(_operator_headers(url))
        ready = client.get("/healthz/ready")
        assert ready.status_code == 503
        assert ready.headers["content-type"] == "application/problem+json"
        assert "broker" in ready.json()["detail"]
        assert client.get("/healthz/live").status_code == 200
        created = client.post("/v1/meetings", json={"number": "第一次会议", "held_on": "2021-02-26",
                                                   "members": [{"member_id": "m1", "name": "张三"}]})
        assert created.status_code == 201


def test_an_event_failing_every_attempt_is_parked_and_the_partition_moves_on(backend, broker, fresh_database_url, started):
    from shared.messaging.inbox import retry_parked

    scoring_db = migrated("scoring", backend, fresh_database_url)
    poison, healthy = ballot_closed("淄博市教育局"), ballot_closed("淄博市教育局")
    grade = ballot_closed_handler(SatisfactionRule())

    def fails_on_poison(session, envelope):
        if envelope.event_id == poison.event_id:
            raise RuntimeError("cannot grade this one yet")
        grade(session, envelope)

    consumer = EventConsumer(
        scoring_db, ScoringInbox, {Topic.BALLOT_CLOSED.value: fails_on_poison}, kafka_settings(broker.bootstrap),
        name="scoring-test", group_id=f"g-{uuid.uuid4().hex[:6]}", retry_backoff=0.05, max_attempts=3,
    )
    consumer.start()
    started(consumer)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    for envelope in (poison, healthy):  # same key: same partition, poison first
        producer.send(Topic.BALLOT_CLOSED.value, key=envelope.key.encode(), value=envelope.to_bytes()).get(10)
    producer.close()

    wait_until(lambda: consumer.handled_total == 1)
    assert consumer.failed_total == 3 and consumer.parked_total == 1
    with scoring_db.session() as session:
        row = session.get(ScoringInbox, str(poison.event_id))
        assert (row.status, row.attempts) == ("parked", 3)
        assert "cannot grade this one yet" in row.error
        assert row.body and str(poison.event_id) in row.body  # kept whole: nothing lost
    assert count(scoring_db, SatisfactionResult.id) == 1

    # After the cause is fixed, a retry handles it exactly once.
    assert retry_parked(scoring_db, ScoringInbox, {Topic.BALLOT_CLOSED.value: grade}) == {"handled": 1, "still_failing": 0}
    assert retry_parked(scoring_db, ScoringInbox, {Topic.BALLOT_CLOSED.value: grade}) == {"handled": 0, "still_failing": 0}
    assert count(scoring_db, SatisfactionResult.id) == 2
    with scoring_db.session() as session:
        assert session.get(ScoringInbox, str(poison.event_id)).status == "handled"


@pytest.mark.postgres
def test_a_database_outage_delays_events_but_never_parks_them(postgres, broker, started):
    """Events wait while the database is unreachable and are handled once it is back."""
    name = f"{postgres.prefix}_late_{uuid.uuid4().hex[:6]}"
    url = postgres_url(name)  # a database that does not exist yet
    scoring_db = Database(url)
    consumer = EventConsumer(
        scoring_db, ScoringInbox, {Topic.BALLOT_CLOSED.value: ballot_closed_handler(SatisfactionRule())},
        kafka_settings(broker.bootstrap), name="scoring-test", group_id=f"g-{uuid.uuid4().hex[:6]}",
        retry_backoff=0.05, max_attempts=2,
    )
    consumer.start()
    started(consumer)
    envelope = ballot_closed()
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    producer.send(Topic.BALLOT_CLOSED.value, key=envelope.key.encode(), value=envelope.to_bytes()).get(10)
    producer.close()

    wait_until(lambda: consumer.failed_total >= 4)  # past max_attempts, yet not parked
    assert consumer.parked_total == 0

    from sqlalchemy import text
    with postgres.engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    postgres.created.append(name)
    upgrade("scoring", url)
    wait_until(lambda: consumer.handled_total == 1)
    assert consumer.parked_total == 0
    assert count(scoring_db, SatisfactionResult.id) == 1
    scoring_db.dispose()


def test_operator_resends_from_an_outbox_id_and_the_broker_gets_those_events_again_in_order(
        backend, broker, fresh_database_url, monkeypatch):
    from typer.testing import CliRunner

    from shared.ops.cli import app as cli

    url = fresh_database_url(backend, "voting")
    upgrade("voting", url)
    voting_db = Database(url)
    envelopes = [ballot_closed() for _ in range(3)]
    with voting_db.session() as session:
        for envelope in envelopes:
            enqueue(session, VotingOutbox, envelope)
    relay = OutboxRelay(voting_db, VotingOutbox, kafka_settings(broker.bootstrap), name="voting-test",
                        topics=(Topic.BALLOT_CLOSED.value,))
    assert relay.run_once() == 3
    with voting_db.session() as session:
        ids = list(session.scalars(select(VotingOutbox.id).order_by(VotingOutbox.id)))
        positions = list(session.execute(select(VotingOutbox.broker_partition, VotingOutbox.broker_offset)))
    assert all(p is not None and o is not None for p, o in positions)  # what the broker acknowledged is kept

    monkeypatch.setenv("VOTING_DATABASE_URL", url)
    runner = CliRunner()
    for bad, message in ((["resend", "voting"], "exactly one of"),
                         (["resend", "voting", "--since", "yesterday"], "ISO 8601"),
                         (["resend", "voting", "--since", "2021-01-01", "--from-id", "1"], "exactly one of")):
        result = runner.invoke(cli, ["events", *bad])
        assert result.exit_code == 2 and message in result.output, result.output
    assert relay.backlog()[0] == 0  # a refused command changes nothing

    result = runner.invoke(cli, ["events", "resend", "voting", "--from-id", str(ids[1])])
    assert result.exit_code == 0, result.output
    assert "2 events pending again" in result.output
    assert relay.run_once() == 2
    relay.close()

    consumer = KafkaConsumer(Topic.BALLOT_CLOSED.value, bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=3000)
    received = [dict(r.headers)["event_id"].decode() for r in consumer]
    consumer.close()
    sent = [str(e.event_id) for e in envelopes]
    # One key, one partition: the re-sent pair follows the first three, in its original order.
    assert received == sent + sent[1:]
    voting_db.dispose()
