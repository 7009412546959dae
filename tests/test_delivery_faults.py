"""Delivery under broker and replica faults, through real processes: Tansu
killed and restarted (empty: it keeps everything in memory), services as
uvicorn processes on SQLite and Postgres, two replicas on one Postgres
database. Each test counts rows and broker messages to show that nothing was
lost or doubled.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest
from kafka import KafkaConsumer
from sqlalchemy import func, select

from shared.messaging.broker import TansuBroker, die_with_parent, free_port
from shared.db import Database
from shared.ops.embedded import EmbeddedStack, free_ports
from shared.messaging.events import ALL_TOPICS, EVENT_ID_HEADER
from tests.waiting import wait_for

pytestmark = pytest.mark.broker

MEMBERS = [{"member_id": f"m{i:02d}", "name": f"委员{i:02d}"} for i in range(1, 8)]
# 2 满意, 1 基本满意, 3 不满意 of 7 members: not more than half satisfied.
UNSATISFIED_CHOICES = ["satisfied", "satisfied", "basically_satisfied", "unsatisfied", "unsatisfied", "unsatisfied"]
SERVICES = ("voting", "scoring", "tracking")
# Quick loss checks and small group timeouts, as on the embedded stack.
FAULT_ENV = {"RELAY_LOSS_CHECK_INTERVAL": "1", "RELAY_STUCK_AFTER": "10"}



def start_stack(tmp_path: Path, request, backend: str, **kwargs) -> EmbeddedStack:
    database_urls = {}
    if backend == "postgres":
        postgres = request.getfixturevalue("postgres")
        suffix = uuid.uuid4().hex[:6]
        database_urls = {s: postgres.create(f"faults_{s}_{suffix}") for s in SERVICES}
    ports = free_ports()  # never a default port another process may take first
    stack = EmbeddedStack(var_dir=tmp_path / "var", ports=ports, database_urls=database_urls,
                          extra_env={**FAULT_ENV, **kwargs.pop("extra_env", {})}, **kwargs)
    return stack.start(ready_timeout=180)


def restart_broker(stack: EmbeddedStack, *, down_for: float = 0.0) -> None:
    """Kill Tansu and start it again, empty, on the same port."""
    port = stack.broker.port
    stack.broker.process.kill()
    stack.broker.process.wait()
    time.sleep(down_for)
    stack.broker = TansuBroker(port=port, host=stack.host, log_path=stack.var_dir / "tansu.log").start()


class Flows:
    """The README's unsatisfied flow, many times: one meeting, a ballot per
    department, and a later meeting for the re-reports to land on."""

    def __init__(self, stack: EmbeddedStack, voting_urls: list[str] | None = None) -> None:
        self.stack = stack
        urls = voting_urls or [stack.url("voting")]
        self.voting = [httpx.Client(base_url=u, headers=stack.operator_headers, timeout=20) for u in urls]
        first = self.voting[0]
        meeting = first.post("/v1/meetings", json={"number": "第四十四次会议", "held_on": "2021-08-26", "members": MEMBERS})
        assert meeting.status_code == 201, meeting.text
        self.meeting_id = meeting.json()["id"]
        checked = first.post(f"/v1/meetings/{self.meeting_id}/check-ins",
                             json={"member_ids": [m["member_id"] for m in MEMBERS[:6]]})
        assert checked.status_code < 300, checked.text
        later = first.post("/v1/meetings", json={"number": "第四十五次会议", "held_on": "2021-10-28", "members": MEMBERS})
        assert later.status_code == 201, later.text
        self.next_meeting_id = later.json()["id"]
        self.departments: list[str] = []
        self.ballots: list[str] = []

    def run(self, count: int) -> None:
        for _ in range(count):
            n = len(self.departments)
            voting = self.voting[n % len(self.voting)]  # alternate replicas
            department = f"淄博市第{n + 1:03d}局"
            ballot = voting.post(f"/v1/meetings/{self.meeting_id}/ballots",
                                 json={"department": department, "evaluation_year": 2021})
            assert ballot.status_code == 201, ballot.text
            ballot_id = ballot.json()["id"]
            assert voting.post(f"/v1/ballots/{ballot_id}/open").status_code == 200
            for member, choice in zip(MEMBERS, UNSATISFIED_CHOICES, strict=False):
                token = self.stack.member_token(member["member_id"], self.meeting_id)
                cast = voting.post(f"/v1/ballots/{ballot_id}/votes", json={"member_id": member["member_id"], "choice": choice},
                                   headers={"Authorization": f"Bearer {token}"})
                assert cast.status_code == 201, cast.text
            closed = voting.post(f"/v1/ballots/{ballot_id}/close")
            assert closed.status_code == 200, closed.text
            self.departments.append(department)
            self.ballots.append(ballot_id)


def scalar(url: str, statement) -> int:
    db = Database(url)
    try:
        with db.session() as session:
            return session.scalar(statement)
    finally:
        db.dispose()


def effects(stack: EmbeddedStack) -> dict[str, Counter]:
    """What users see, counted where it lives: grades, cases, agenda items, per department."""
    from services.scoring.models import SatisfactionResult
    from services.tracking.models import EvaluationCase
    from services.voting.models import AgendaItem

    found = {}
    for name, service, model in (("graded", "scoring", SatisfactionResult), ("cases", "tracking", EvaluationCase),
                                 ("agenda", "voting", AgendaItem)):
        db = Database(stack.database_url(service))
        try:
            with db.session() as session:
                stmt = select(model.department)
                if model is AgendaItem:
                    stmt = stmt.where(AgendaItem.kind == "rereport_revote")
                found[name] = Counter(session.scalars(stmt))
        finally:
            db.dispose()
    return found


def all_effects_once(stack: EmbeddedStack, departments: list[str]) -> bool:
    seen = effects(stack)
    return all(seen[name] == Counter(departments) for name in seen)


def wait_all_effects(stack: EmbeddedStack, departments: list[str], timeout: float = 90.0) -> None:
    try:
        wait_for(lambda: all_effects_once(stack, departments), timeout=timeout,
                 what=f"every effect once for {len(departments)} flows")
    except AssertionError as exc:
        seen = {name: sum(c.values()) for name, c in effects(stack).items()}
        pending = {s: outbox_rows(stack, s) for s in SERVICES}
        raise AssertionError(f"{exc}; effects {seen}; outbox (rows, pending) {pending}") from None
    # And nothing more arrives later (a late duplicate would show here).
    time.sleep(2)
    seen = effects(stack)
    assert {name: dict(c) for name, c in seen.items()} == {name: dict(Counter(departments)) for name in seen}


def outbox_rows(stack: EmbeddedStack, service: str) -> tuple[int, int]:
    """(rows, rows still pending) in a service's outbox."""
    module = __import__(f"services.{service}.models", fromlist=["OutboxMessage"])
    model = module.OutboxMessage
    url = stack.database_url(service)
    return (scalar(url, select(func.count(model.id))),
            scalar(url, select(func.count(model.id)).where(model.sent_at.is_(None))))


def broker_messages(bootstrap: str) -> Counter:
    """Every message on our topics, by event id (read from the beginning)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=3000)
    from kafka import TopicPartition

    partitions = [TopicPartition(t, p) for t in ALL_TOPICS for p in (consumer.partitions_for_topic(t) or ())]
    consumer.assign(partitions)
    consumer.seek_to_beginning()
    ends = consumer.end_offsets(partitions)
    seen: Counter = Counter()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(consumer.position(tp) < ends[tp] for tp in partitions):
        for records in consumer.poll(timeout_ms=500).values():
            for record in records:
                seen[dict(record.headers)[EVENT_ID_HEADER].decode()] += 1
    consumer.close()
    return seen


def metric(client: httpx.Client, name: str) -> float:
    total = 0.0
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            head, _, value = line.rpartition(" ")
            if head == name or head.startswith(name + "{"):
                total += float(value)
    return total


def clients(stack: EmbeddedStack) -> dict[str, httpx.Client]:
    return {s: httpx.Client(base_url=stack.url(s), headers=stack.operator_headers, timeout=10) for s in SERVICES}


def own_errors(stack: EmbeddedStack, service: str) -> list[dict]:
    lines = []
    for raw in (stack.var_dir / f"{service}.log").read_text(errors="replace").splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if not str(line.get("logger", "")).startswith("kafka") and line.get("level") in ("error", "critical"):
            lines.append(line)
    return lines


# --- the broker restarts ------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_broker_killed_and_restarted_mid_flow_every_effect_arrives_once(backend, tmp_path, request):
    stack = start_stack(tmp_path, request, backend)
    try:
        flows = Flows(stack)
        flows.run(3)  # every service's relay has published
        wait_all_effects(stack, flows.departments)
        assert all(outbox_rows(stack, s)[0] > 0 for s in SERVICES)

        restart_broker(stack, down_for=1.0)
        flows.run(3)
        wait_all_effects(stack, flows.departments)
        assert all(outbox_rows(stack, s)[1] == 0 for s in SERVICES)
        api = clients(stack)
        for service in SERVICES:
            assert api[service].get("/healthz/ready").status_code == 200
    finally:
        stack.stop()


def test_events_the_restarted_broker_lost_are_sent_again_and_arrive_once(tmp_path, request):
    """Tracking stopped, 10 flows, broker restarted empty, tracking started."""
    stack = start_stack(tmp_path, request, "sqlite")
    try:
        api = clients(stack)
        tracking = stack.processes.pop("tracking")
        tracking.terminate()
        tracking.wait(30)
        flows = Flows(stack)
        flows.run(10)
        graded = lambda: len(effects(stack)["graded"]) == 10 and outbox_rows(stack, "scoring")[1] == 0  # noqa: E731
        wait_for(graded, what="scoring graded all 10 and its outbox is all sent")
        assert effects(stack)["cases"] == Counter()

        restart_broker(stack)  # the vote.marked_unsatisfied events it held are gone
        stack.processes["tracking"] = start_service(stack, "tracking", stack.ports["tracking"])
        stack.wait_ready(180)
        wait_all_effects(stack, flows.departments)
        assert metric(api["scoring"], "pingyi_relay_broker_losses_total") >= 1
        assert metric(api["scoring"], "pingyi_relay_resent_total") >= 10
        assert [line["event"] for line in own_errors(stack, "scoring")].count("broker_lost_events") >= 1
    finally:
        stack.stop()


def start_service(stack: EmbeddedStack, service: str, port: int, env: dict[str, str] | None = None,
                  log_name: str | None = None) -> subprocess.Popen:
    log = open(stack.var_dir / f"{log_name or service}.log", "ab")
    return subprocess.Popen(
        [sys.executable, "-m", "shared.ops.cli", "serve", service, "--host", stack.host, "--port", str(port)],
        env={**stack.service_env(service), **(env or {})}, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
        preexec_fn=die_with_parent,
    )


# --- a producer that keeps failing ------------------------------------------


class FreezableProxy:
    """A TCP forwarder on loopback in front of Tansu. Frozen, it still accepts
    connections but passes nothing on: a broker that is reachable yet hung."""

    def __init__(self, target_port: int) -> None:
        import socket
        import threading

        self.target_port = target_port
        self.frozen = threading.Event()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._sockets: list = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading

        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            with self._lock:
                self._sockets.append(client)
            if self.frozen.is_set():
                continue  # held open, never answered
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.append(upstream)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source, sink) -> None:
        try:
            while data := source.recv(65536):
                if self.frozen.is_set():
                    return
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.close()
                except OSError:
                    pass

    def freeze(self) -> None:
        """Hang every connection, open and new."""
        self.frozen.set()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            try:
                sock.shutdown(2)
            except OSError:
                pass

    def thaw(self) -> None:
        self.frozen.clear()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:  # the hung ones: clients reconnect through a working path
            try:
                sock.close()
            except OSError:
                pass

    def close(self) -> None:
        self._server.close()
        self.freeze()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_relay_whose_producer_keeps_failing_turns_readiness_red_then_green(backend, fresh_database_url, tmp_path):
    from fastapi.testclient import TestClient

    from services.voting.app import create_app
    from services.voting.settings import VotingSettings
    from shared.ops.migrations import upgrade
    from tests.conftest import FAST_KAFKA
    from tests.test_delivery import _operator_headers

    proxy = FreezableProxy(target_port=free_port())
    tansu = TansuBroker(port=proxy.target_port, advertised_port=proxy.port, log_path=tmp_path / "tansu.log").start()
    url = fresh_database_url(backend, "voting")
    upgrade("voting", url)
    settings = VotingSettings(
        database_url=url, kafka_bootstrap_servers=f"127.0.0.1:{proxy.port}", log_json=False, run_consumer=False,
        run_audit_linker=False, relay_failing_after=2, relay_rebuild_after=2, relay_stuck_after=8,
        relay_backoff_max=1.0, kafka_delivery_timeout_ms=6000, **FAST_KAFKA)
    try:
        with TestClient(create_app(settings)) as client:
            client.headers.update(_operator_headers(url))
            wait_for(lambda: client.get("/healthz/ready").status_code == 200, what="ready")

            def meeting(number: str) -> None:
                created = client.post("/v1/meetings", json={"number": number, "held_on": "2021-02-26", "members": MEMBERS})
                assert created.status_code == 201, created.text

            def ballot_closed_sent() -> int:
                from services.voting.models import OutboxMessage

                return scalar(url, select(func.count(OutboxMessage.id)).where(OutboxMessage.sent_at.is_not(None)))

            flows = Flows.__new__(Flows)  # one real event: a closed ballot
            flows.stack, flows.voting = _StackTokens(settings), [client]
            flows.departments, flows.ballots = [], []
            meeting("第一次会议")
            flows.meeting_id = client.get("/v1/meetings").json()["items"][0]["id"]
            client.post(f"/v1/meetings/{flows.meeting_id}/check-ins", json={"member_ids": [m["member_id"] for m in MEMBERS[:6]]})
            flows.run(1)
            wait_for(lambda: ballot_closed_sent() == 1, what="the first event published")

            proxy.freeze()
            flows.run(1)  # this one waits: the broker answers no request
            ready = wait_for(lambda: (r := client.get("/healthz/ready")).status_code == 503 and r, timeout=60,
                             what="readiness 503")
            checks = ready.json()["checks"]
            assert ready.headers["content-type"] == "application/problem+json"
            assert checks["broker"] == "ok"  # TCP still connects: only the relay can tell
            assert checks["outbox_relay"].startswith("down:"), checks
            assert "outbox_relay" in ready.json()["detail"]
            with Database(url).session() as session:
                from services.voting.models import OutboxMessage

                waiting = session.scalars(select(OutboxMessage).where(OutboxMessage.sent_at.is_(None))).one()
                assert waiting.attempts >= 1 and waiting.last_error
            # Failing on, the relay gives up on its producer and builds a new one.
            wait_for(lambda: metric(client, "pingyi_relay_producer_rebuilds_total") >= 1, timeout=60, what="a rebuild")
            assert client.get("/healthz/ready").status_code == 503

            proxy.thaw()
            wait_for(lambda: client.get("/healthz/ready").status_code == 200, timeout=60, what="readiness 200 again")
            assert ballot_closed_sent() == 2
            assert metric(client, "pingyi_relay_failures_total") >= 2
            assert metric(client, "pingyi_relay_producer_rebuilds_total") >= 1
            assert metric(client, "pingyi_relay_failures_in_row") == 0
    finally:
        tansu.stop()
        proxy.close()


class _StackTokens:
    """Member tokens signed with the in-process app's secret (Flows asks its stack for them)."""

    def __init__(self, settings) -> None:
        self.secret = settings.auth_token_secret

    def member_token(self, member_id: str, meeting_id: str) -> str:
        from shared.security.credentials import issue_member_token, member_scopes

        return issue_member_token(self.secret, member_id=member_id, meeting_id=meeting_id, scopes=member_scopes(clerk=False))


# --- consumers come back fast ------------------------------------------------


def test_a_consumer_resumes_within_seconds_of_the_broker_returning(tmp_path, fresh_database_url):
    from kafka import KafkaProducer

    from services.tracking.cases.service import vote_marked_unsatisfied_handler
    from services.tracking.models import InboxMessage as TrackingInbox
    from services.tracking.models import UnsatisfiedRound
    from shared.messaging.events import Topic, VoteMarkedUnsatisfied
    from shared.messaging.inbox import EventConsumer
    from shared.messaging.kafka import ensure_topics
    from shared.ops.migrations import upgrade
    from tests.test_delivery import kafka_settings

    url = fresh_database_url("sqlite", "tracking")
    upgrade("tracking", url)
    db = Database(url)
    broker = TansuBroker(log_path=tmp_path / "tansu.log").start()
    settings = kafka_settings(broker.bootstrap)
    topic = Topic.VOTE_MARKED_UNSATISFIED.value
    consumer = EventConsumer(db, TrackingInbox, {topic: vote_marked_unsatisfied_handler(45, "专项调研组")}, settings,
                             name="tracking-test", group_id=f"g-{uuid.uuid4().hex[:6]}")

    def send(department: str) -> None:
        envelope = VoteMarkedUnsatisfied(
            department=department, evaluation_year=2021, unsatisfied_round=1, vote_round=1, ballot_id=str(uuid.uuid4()),
            meeting_id=str(uuid.uuid4()), meeting_date="2021-08-26",
        ).envelope(producer="scoring", key="one-partition")  # the restarted broker's partition starts at offset 0 again
        ensure_topics(settings, [topic])
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
        producer.send(topic, key=envelope.key.encode(), value=envelope.to_bytes(),
                      headers=[(EVENT_ID_HEADER, str(envelope.event_id).encode())]).get(10)
        producer.close()

    rounds = lambda: scalar(url, select(func.count(UnsatisfiedRound.id)))  # noqa: E731
    try:
        consumer.start()
        send("淄博市教育局")
        wait_for(lambda: rounds() == 1, timeout=60, what="the first event handled")

        broker.process.kill()
        broker.process.wait()
        time.sleep(10)  # long enough for kafka-python's own backoff to have grown to many seconds
        broker = TansuBroker(port=broker.port, log_path=tmp_path / "tansu.log").start()
        send("淄博市民政局")
        # Bounded wait: the target on the embedded stack is 5 s from the broker's return.
        wait_for(lambda: rounds() == 2, timeout=5, interval=0.1, what="the event after the restart handled")
        wait_for(lambda: consumer.reconnects_total >= 1, timeout=30, what="the group rejoined")
        time.sleep(1)
        assert rounds() == 2 and consumer.handled_total == 2  # the rejoin re-reads from the start: duplicates only
    finally:
        consumer.stop()
        broker.stop()
        db.dispose()


# --- two replicas of every service on one Postgres database -----------------


def audit_chain(stack: EmbeddedStack, service: str):
    from shared.security.audit import verify

    models = __import__(f"services.{service}.models", fromlist=["SECURITY_MODELS"])
    db = Database(stack.database_url(service))
    try:
        with db.session() as session:
            return verify(session, models.SECURITY_MODELS.audit_entry)
    finally:
        db.dispose()


@pytest.mark.postgres
def test_two_replicas_of_every_service_publish_each_event_once_and_survive_the_leader_dying(tmp_path, request):
    import threading

    stack = start_stack(tmp_path, request, "postgres")
    replicas: dict[str, tuple[subprocess.Popen, int]] = {}
    try:
        for service in SERVICES:
            port = free_port()
            replicas[service] = (start_service(stack, service, port, log_name=f"{service}-2"), port)
        urls = {s: [stack.url(s), f"http://{stack.host}:{replicas[s][1]}"] for s in SERVICES}
        for service in SERVICES:
            wait_for(lambda u=urls[service][1]: _ready(u), timeout=180, what=f"{service} replica ready")
        # One relay per service leads; the other stands by.
        for service in SERVICES:
            leaders = wait_for(lambda s=service: (n := [_metric_at(u, "pingyi_relay_leader") for u in urls[s]]) and sum(n) == 1 and n,
                               what=f"one {service} relay leading")
            assert sorted(leaders) == [0, 1]

        flows = Flows(stack, voting_urls=urls["voting"])
        flows.run(50)
        wait_all_effects(stack, flows.departments, timeout=180)
        wait_for(lambda: all(outbox_rows(stack, s)[1] == 0 for s in SERVICES), what="every outbox sent")
        published = broker_messages(stack.broker.bootstrap)
        outboxes = sum(outbox_rows(stack, s)[0] for s in SERVICES)
        assert len(published) == outboxes  # every event reached the broker …
        doubled = {event_id: n for event_id, n in published.items() if n > 1}
        assert doubled == {}  # … once
        for service in SERVICES:
            check = wait_for(lambda s=service: (c := audit_chain(stack, s)).pending == 0 and c, what=f"{service} chain linked")
            assert check.intact, (service, check)

        # Kill scoring's leading replica in the middle of a burst: the standby takes over.
        leader = 0 if _metric_at(urls["scoring"][0], "pingyi_relay_leader") == 1 else 1
        process = stack.processes["scoring"] if leader == 0 else replicas["scoring"][0]
        burst = threading.Thread(target=flows.run, args=(10,))
        burst.start()
        wait_for(lambda: len(flows.departments) >= 53, what="the burst under way")
        process.kill()
        process.wait()
        burst.join(120)
        assert not burst.is_alive() and len(flows.departments) == 60
        survivor = urls["scoring"][1 - leader]
        wait_for(lambda: _metric_at(survivor, "pingyi_relay_leader") == 1, what="the standby took over")
        wait_all_effects(stack, flows.departments, timeout=180)
        wait_for(lambda: all(outbox_rows(stack, s)[1] == 0 for s in SERVICES), what="every outbox sent")
        for service in SERVICES:
            check = wait_for(lambda s=service: (c := audit_chain(stack, s)).pending == 0 and c, what=f"{service} chain linked")
            assert check.intact, (service, check)
    finally:
        for process, _ in replicas.values():
            if process.poll() is None:
                process.terminate()
        for process, _ in replicas.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
        stack.stop()


def _ready(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz/ready", timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


def _metric_at(url: str, name: str) -> float:
    with httpx.Client(base_url=url, timeout=5) as client:
        return metric(client, name)
