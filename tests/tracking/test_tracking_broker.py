"""Through a real Tansu broker: the competitive selection's ballot.closed,
published twice, opens each winner's case once, with its milestones."""

from __future__ import annotations

import uuid

import pytest
from kafka import KafkaProducer
from sqlalchemy import func, select

from services.tracking.app import create_app
from services.tracking.models import EvaluationCase, Milestone
from shared.db import Database
from shared.messaging.events import Topic
from shared.messaging.inbox import EventConsumer
from shared.ops.migrations import upgrade
from tests.conftest import settings_for
from tests.test_delivery import kafka_settings, wait_until
from tests.tracking.helpers import WINNERS, selection_closed

pytestmark = pytest.mark.broker


def test_a_selection_published_twice_opens_each_case_once(backend, broker, fresh_database_url) -> None:
    url = fresh_database_url(backend, "tracking")
    upgrade("tracking", url)
    db = Database(url)
    app = create_app(settings_for("tracking", url), db=db)  # the handlers the service really runs
    consumer = EventConsumer(db, app.state.runtime.inbox_model, app.state.runtime.handlers, kafka_settings(broker.bootstrap),
                             name="tracking-test", group_id=f"g-{uuid.uuid4().hex[:6]}")
    consumer.start()
    try:
        envelope = selection_closed()
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
        for _ in range(2):
            producer.send(Topic.BALLOT_CLOSED.value, key=envelope.key.encode(), value=envelope.to_bytes(),
                          headers=[("event_id", str(envelope.event_id).encode())]).get(10)
        producer.close()
        wait_until(lambda: consumer.handled_total + consumer.duplicates_total >= 2)
        assert (consumer.handled_total, consumer.duplicates_total) == (1, 1)
        with db.session() as session:
            assert sorted(session.scalars(select(EvaluationCase.department))) == sorted(WINNERS)
            assert session.scalar(select(func.count(Milestone.id))) == 2 * len(WINNERS)
    finally:
        consumer.stop()
        db.dispose()
