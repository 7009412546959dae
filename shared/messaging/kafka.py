"""Kafka adapter over kafka-python: client settings, producers, consumers, topics.

The same code talks to Tansu (embedded default) and Apache Kafka (production);
only the timeouts differ. On Tansu a consumer group join waits about half of
the session timeout, so local runs keep those small.
"""

from __future__ import annotations

import inspect
import socket
import time
from collections.abc import Iterable

import structlog
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError
from pydantic import BaseModel, Field

from shared.messaging.events import EVENT_ID_HEADER

log = structlog.get_logger(__name__)


class KafkaSettings(BaseModel):
    """Client settings; each service's settings carry one (env e.g. VOTING_KAFKA__BOOTSTRAP_SERVERS)."""

    bootstrap_servers: str = Field("127.0.0.1:9092", description="comma-separated host:port list")
    client_id_prefix: str = "pingyi"
    session_timeout_ms: int = Field(6000, ge=1000)
    heartbeat_interval_ms: int = Field(1000, ge=100)
    max_poll_interval_ms: int = Field(10000, ge=1000)
    request_timeout_ms: int = Field(15000, ge=1000)
    # How long a send may block waiting for metadata while the broker is down.
    max_block_ms: int = Field(5000, ge=100)
    # How long a client waits for a first broker connection before giving up.
    bootstrap_timeout_ms: int = Field(5000, ge=100)
    delivery_timeout_ms: int = Field(30000, ge=1000)
    # A fetch returns after this long even with no data; lower means quicker
    # hand-over on a broker that does not wake waiting fetches (Tansu: two
    # hops took 105-107 ms at 100 ms, 66-74 ms at 25). While events flow
    # consumers use the first, once idle the second.
    fetch_max_wait_ms: int = Field(25, ge=1)
    fetch_max_wait_idle_ms: int = Field(1000, ge=1, le=10000)  # below the request timeout
    topic_partitions: int = Field(3, ge=1)
    topic_replication: int = Field(1, ge=1)
    # kafka-python's own default grows to 30 s between tries: consumers then
    # come back up to half a minute after the broker returns.
    reconnect_backoff_ms: int = Field(50, ge=1)
    reconnect_backoff_max_ms: int = Field(1000, ge=1)

    @property
    def bootstrap_list(self) -> list[str]:
        return [s.strip() for s in self.bootstrap_servers.split(",") if s.strip()]


def _connection(settings: KafkaSettings, client_id: str) -> dict:
    """What every client of ours shares: where the broker is, how fast to reconnect."""
    return dict(
        bootstrap_servers=settings.bootstrap_list,
        client_id=f"{settings.client_id_prefix}-{client_id}",
        bootstrap_timeout_ms=settings.bootstrap_timeout_ms,
        reconnect_backoff_ms=settings.reconnect_backoff_ms,
        reconnect_backoff_max_ms=max(settings.reconnect_backoff_max_ms, settings.reconnect_backoff_ms),
    )


def make_producer(settings: KafkaSettings, *, client_id: str) -> KafkaProducer:
    return KafkaProducer(
        **_connection(settings, client_id),
        acks="all",
        # Not idempotent: the idempotent producer keeps a producer id the broker
        # must remember; a broker restarted empty (Tansu in memory) answers
        # InitProducerId with an error kafka-python treats as fatal for ever.
        # Order and duplicates stay safe without it: one relay per service
        # (the leader lease) sends rows in id order, one request in flight,
        # stopping at the first failure; each key maps to one partition; a
        # retried send that went through twice is absorbed by the inboxes.
        enable_idempotence=False,
        # Topics are created by ensure_topics with the configured partitions,
        # never by a metadata request with the broker's default.
        allow_auto_create_topics=False,
        # One request in flight keeps each key's events in order across retries.
        max_in_flight_requests_per_connection=1,
        request_timeout_ms=settings.request_timeout_ms,
        max_block_ms=settings.max_block_ms,
        # kafka-python requires delivery > linger + request timeouts.
        delivery_timeout_ms=max(settings.delivery_timeout_ms, settings.request_timeout_ms + 1000),
        linger_ms=2,
    )


def make_consumer(settings: KafkaSettings, *, group_id: str, topics: Iterable[str], client_id: str) -> KafkaConsumer:
    consumer = KafkaConsumer(
        *topics,
        **_connection(settings, client_id),
        allow_auto_create_topics=False,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=settings.heartbeat_interval_ms,
        max_poll_interval_ms=settings.max_poll_interval_ms,
        request_timeout_ms=max(settings.request_timeout_ms, settings.session_timeout_ms + 1000),
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
    )
    _poll_without_heartbeat_deadline(consumer)
    return consumer


def _poll_without_heartbeat_deadline(consumer: KafkaConsumer) -> None:
    """kafka-python 3 sends heartbeats from its network thread, yet
    `KafkaConsumer.poll` still cuts each wait at the next heartbeat's time, as
    in clients whose poll sent them. Idle, a consumer then woke at every
    heartbeat for nothing (600 ms embedded), a tenth of an idle service's CPU.
    Without auto-commit (ours) that deadline is all the cap holds; the poll's
    own timeout, at most a second here, keeps it well inside max_poll_interval."""
    coordinator = getattr(consumer, "_coordinator", None)
    if coordinator is None or not hasattr(coordinator, "time_to_next_poll") or consumer.config["enable_auto_commit"]:
        return  # another kafka-python, or one whose deadline carries auto-commits
    if not inspect.iscoroutinefunction(getattr(coordinator, "_heartbeat_loop", None)):
        return  # heartbeats may depend on poll here: keep the deadline
    coordinator.time_to_next_poll = lambda: consumer.config["max_poll_interval_ms"] / 2000


def _admin(settings: KafkaSettings) -> KafkaAdminClient:
    return KafkaAdminClient(**_connection(settings, "admin"), request_timeout_ms=settings.request_timeout_ms)


def ensure_topics(settings: KafkaSettings, topics: Iterable[str]) -> None:
    """Create the topics that do not exist yet; existing ones are left alone."""
    admin = _admin(settings)
    try:
        existing = set(admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if not missing:
            return
        try:
            admin.create_topics(
                [NewTopic(t, settings.topic_partitions, settings.topic_replication) for t in missing]
            )
            log.info("topics_created", topics=missing)
        except TopicAlreadyExistsError:
            pass
    finally:
        admin.close()


async def _group_members(admin: KafkaAdminClient, group_id: str) -> list[str]:
    # kafka-python's describe_groups cannot decode the authorized operations
    # Tansu returns ("15 is not a valid ACLOperation"): the raw response is read.
    coordinator = (await admin._find_coordinator_ids([group_id]))[group_id]
    response = await admin._manager.send(admin._describe_groups_request([group_id]), node_id=coordinator)
    return [member.member_id for group in response.groups for member in group.members]


def reform_group(settings: KafkaSettings, group_id: str) -> int | None:
    """Delete an empty consumer group and commit its offsets to it again: how
    a group Tansu has wedged (a departed member kept as leader) is mended.
    Returns how many offsets were kept, or None when the group was not deleted
    (it has members, or the broker refused)."""
    admin = _admin(settings)
    try:
        members = admin._manager.run(_group_members, admin, group_id)
        if members:  # Tansu would delete it anyway, under its live members
            log.info("consumer_group_not_deleted", group=group_id, members=len(members))
            return None
        offsets = admin.list_group_offsets({group_id: None}).get(group_id) or {}
        outcome = admin.delete_groups([group_id]).get(group_id)
        if outcome != "OK":
            log.info("consumer_group_not_deleted", group=group_id, outcome=str(outcome))
            return None
    finally:
        admin.close()
    kept = {tp: mark for tp, mark in offsets.items() if mark.offset >= 0}
    if kept:
        _commit_offsets_again(settings, group_id, kept)
    return len(kept)


def _commit_offsets_again(settings: KafkaSettings, group_id: str, offsets: dict, tries: int = 3) -> None:
    # Tansu drops the connection of the first commit to a group it just deleted; a new one goes through.
    for attempt in range(1, tries + 1):
        admin = _admin(settings)
        try:
            admin.alter_group_offsets(group_id, offsets)
            return
        except KafkaError as exc:
            if attempt == tries:
                raise
            log.info("consumer_group_offsets_retried", group=group_id, error=repr(exc))
        finally:
            admin.close()


def make_reader(settings: KafkaSettings, *, client_id: str) -> KafkaConsumer:
    """A consumer without a group: reads partitions by offset (the relay's broker-loss check)."""
    return KafkaConsumer(
        **_connection(settings, client_id),
        allow_auto_create_topics=False,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="latest",  # an offset the broker no longer has reads as nothing
        request_timeout_ms=max(settings.request_timeout_ms, settings.session_timeout_ms + 1000),
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
    )


def read_event_ids(reader: KafkaConsumer, starts: dict, *, timeout_s: float, through: bool = False) -> dict:
    """Event ids the broker holds, per partition and offset, from each start
    offset: the one record there, or (`through`) every record to the end.
    All partitions are fetched at once; an offset the broker no longer has
    reads as nothing."""
    if not starts:
        return {}
    reader.assign(list(starts))
    for tp, offset in starts.items():
        reader.seek(tp, offset)
    found: dict = {tp: {} for tp in starts}
    deadline = time.monotonic() + timeout_s
    empty_polls = 0
    while time.monotonic() < deadline and empty_polls < 2:
        batch = reader.poll(timeout_ms=250, max_records=500)
        if not batch:
            empty_polls += 1
            continue
        empty_polls = 0
        for tp, records in batch.items():
            for record in records:
                found[tp][record.offset] = dict(record.headers or []).get(EVENT_ID_HEADER, b"").decode()
            if not through:
                reader.pause(tp)  # got the one asked for
        if not through and all(found[tp] for tp in starts):
            break
    reader.assign([])
    return found


def broker_reachable(settings: KafkaSettings, timeout: float = 1.0) -> bool:
    """Cheap readiness probe: can a TCP connection reach any bootstrap address?"""
    for address in settings.bootstrap_list:
        host, _, port = address.rpartition(":")
        try:
            with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
                return True
        except (OSError, ValueError):
            continue
    return False


__all__ = [
    "KafkaError",
    "KafkaSettings",
    "broker_reachable",
    "ensure_topics",
    "make_consumer",
    "make_producer",
    "make_reader",
    "read_event_ids",
    "reform_group",
]
