"""A consumer group after a broker restart, on a real Tansu: a member that
leaves while its rejoin is pending must not wedge the group (Tansu 0.6 keeps
such a member as leader, and no later join completes); a wedged group is
deleted and formed again with its committed offsets.
"""

from __future__ import annotations

import time
import uuid

import pytest
from kafka import KafkaAdminClient, OffsetAndMetadata, TopicPartition
from kafka.structs import MemberState

from services.tracking.cases.service import vote_marked_unsatisfied_handler
from services.tracking.models import InboxMessage as TrackingInbox
from shared.messaging.broker import TansuBroker
from shared.messaging.events import Topic
from shared.messaging.inbox import EventConsumer
from shared.messaging.kafka import ensure_topics, make_consumer, reform_group
from tests.test_delivery import kafka_settings, migrated

pytestmark = pytest.mark.broker

TOPIC = Topic.VOTE_MARKED_UNSATISFIED.value


def joined(consumer, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        consumer.poll(timeout_ms=100)
        if consumer.assignment():
            return True
    return False


def rejoining_after_restart(broker: TansuBroker, tmp_path, settings, group: str):
    """A member of `group` whose broker restarted empty, caught with its JoinGroup pending."""
    member = make_consumer(settings, group_id=group, topics=[TOPIC], client_id="first")
    assert joined(member, 15), "the first member never joined"
    port = broker.port
    broker.process.kill()
    broker.process.wait()
    restarted = TansuBroker(port=port, log_path=tmp_path / "tansu-restarted.log").start()
    ensure_topics(settings, [TOPIC])
    deadline = time.monotonic() + 15
    while member._coordinator.state is not MemberState.REBALANCING and time.monotonic() < deadline:
        member.poll(timeout_ms=50)
    assert member._coordinator.state is MemberState.REBALANCING
    return member, restarted


def test_a_group_wedged_by_a_member_leaving_mid_join_is_formed_again_with_its_offsets(broker, tmp_path):
    settings = kafka_settings(broker.bootstrap)
    ensure_topics(settings, [TOPIC])
    group = f"g-{uuid.uuid4().hex[:6]}"
    member, restarted = rejoining_after_restart(broker, tmp_path, settings, group)
    try:
        time.sleep(0.3)
        member.close(autocommit=False)  # leaves at once, its join still pending: the wedge
        admin = KafkaAdminClient(bootstrap_servers=restarted.bootstrap)
        try:
            committed = {TopicPartition(TOPIC, 0): OffsetAndMetadata(7, "", -1)}
            admin.alter_group_offsets(group, committed)
            second = make_consumer(settings, group_id=group, topics=[TOPIC], client_id="second")
            assert not joined(second, 3 * settings.session_timeout_ms / 1000), (
                "Tansu no longer wedges a group a member left mid-join: reform_group may go")
            second.close(autocommit=False)

            assert reform_group(settings, group) == 1
            assert admin.list_group_offsets(group)[group][TopicPartition(TOPIC, 0)].offset == 7
            third = make_consumer(settings, group_id=group, topics=[TOPIC], client_id="third")
            try:
                assert joined(third, 10)
                assert third.committed(TopicPartition(TOPIC, 0)) == 7
            finally:
                third.close(autocommit=False)
        finally:
            admin.close()
    finally:
        restarted.stop()


def test_a_group_with_a_live_member_is_not_deleted(broker):
    settings = kafka_settings(broker.bootstrap)
    ensure_topics(settings, [TOPIC])
    group = f"g-{uuid.uuid4().hex[:6]}"
    live = make_consumer(settings, group_id=group, topics=[TOPIC], client_id="live")
    try:
        assert joined(live, 15)
        live.commit({TopicPartition(TOPIC, 1): OffsetAndMetadata(3, "", -1)})
        assert reform_group(settings, group) is None
        assert live.committed(TopicPartition(TOPIC, 1)) == 3
        assert joined(live, 1)  # still a member, still assigned
    finally:
        live.close(autocommit=False)


def test_the_event_consumer_closing_mid_join_leaves_a_group_the_next_member_joins(broker, tmp_path, fresh_database_url):
    settings = kafka_settings(broker.bootstrap)
    ensure_topics(settings, [TOPIC])
    group = f"g-{uuid.uuid4().hex[:6]}"
    events = EventConsumer(migrated("tracking", "sqlite", fresh_database_url), TrackingInbox,
                           {TOPIC: vote_marked_unsatisfied_handler(45, "专项调研组")}, settings,
                           name="tracking-test", group_id=group)
    member, restarted = rejoining_after_restart(broker, tmp_path, settings, group)
    try:
        events._close(member)  # what a rebuild or a stop does with the client it drops
        second = make_consumer(settings, group_id=group, topics=[TOPIC], client_id="second")
        try:
            assert joined(second, 10), "the group was left wedged"
        finally:
            second.close(autocommit=False)
    finally:
        restarted.stop()
