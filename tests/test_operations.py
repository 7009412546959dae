"""What the operations team relies on: metrics, JSON logs with request ids,
configuration checked at start, and a graceful stop that flushes the outbox."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from kafka import KafkaConsumer

from services.voting.models import OutboxMessage
from shared.messaging.broker import free_port
from shared.db import Database
from shared.messaging.events import Topic
from shared.ops.migrations import upgrade
from shared.messaging.outbox import enqueue, outbox_backlog
from tests.conftest import FAST_KAFKA
from tests.test_delivery import ballot_closed


def metric_value(text: str, name: str, **labels: str) -> float | None:
    """The value of one series in Prometheus text format, or None if absent."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        if series == (f"{name}{{{wanted}}}" if labels else name):
            return float(value)
    return None


def test_metrics_after_some_traffic(voting):
    client = voting.client
    meeting = client.post("/v1/meetings", json={"number": "第四十四次会议", "held_on": "2021-02-26",
                                               "members": [{"member_id": "m1", "name": "张三"}]}).json()
    client.post(f"/v1/meetings/{meeting['id']}/check-ins", json={"member_ids": ["m1"]})
    ballot = client.post(f"/v1/meetings/{meeting['id']}/ballots", json={"department": "淄博市民政局", "evaluation_year": 2021}).json()
    client.post(f"/v1/ballots/{ballot['id']}/open")
    as_m1 = voting.member_token("m1", meeting["id"])
    assert client.post(f"/v1/ballots/{ballot['id']}/votes", json={"member_id": "m1", "choice": "satisfied"}, headers=as_m1).status_code == 201
    assert client.post(f"/v1/ballots/{ballot['id']}/votes", json={"member_id": "m1", "choice": "satisfied"}, headers=as_m1).status_code == 409

    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert metric_value(text, "pingyi_http_requests_total", method="POST", route="/v1/meetings", status="201") == 1
    assert metric_value(text, "pingyi_http_requests_total", method="POST", route="/v1/ballots/{ballot_id}/votes", status="409") == 1
    assert metric_value(text, "pingyi_http_request_duration_seconds_count", method="POST", route="/v1/ballots/{ballot_id}/votes") == 2
    assert metric_value(text, "pingyi_votes_cast_total", kind="satisfaction") == 1
    assert metric_value(text, "pingyi_ballots_open", kind="satisfaction") == 1
    assert metric_value(text, "pingyi_outbox_pending") == 0

    client.post(f"/v1/ballots/{ballot['id']}/close")
    text = client.get("/metrics").text
    assert metric_value(text, "pingyi_ballots_open", kind="satisfaction") is None
    assert metric_value(text, "pingyi_outbox_pending") == 1  # relay is off in this harness
    assert metric_value(text, "pingyi_outbox_oldest_pending_age_seconds") >= 0
    for family in ("pingyi_events_published_total", "pingyi_consumer_lag", "pingyi_events_consumed_total"):
        assert f"# TYPE {family.removesuffix('_total')}" in text


def test_request_id_is_echoed_or_generated(voting):
    given = voting.client.get("/healthz/live", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    generated = voting.client.get("/healthz/live")
    assert len(generated.headers["x-request-id"]) == 32
    unsafe = voting.client.get("/healthz/live", headers={"X-Request-ID": "no spaces\tor tabs"})
    assert unsafe.headers["x-request-id"] != "no spaces\tor tabs"


def serve(service: str, port: int, env: dict[str, str], stderr) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "shared.ops.cli", "serve", service, "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=stderr, stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [("VOTING_KAFKA_SESSION_TIMEOUT_MS", "soon"), ("VOTING_LOG_LEVEL", "LOUD"), ("VOTING_RUN_RELAY", "perhaps"),
     ("VOTING_BALLOT_SEAL_SECRET", ""),  # compose passes an empty secret when .env lacks it
     ("TRACKING_AUTH_TOKEN_SECRET", ""), ("SCORING_RATE_LIMIT_PUBLIC_READ", "lots")],
)
def test_bad_configuration_stops_the_process_naming_the_variable(variable, value, tmp_path):
    service = variable.split("_", 1)[0].lower()
    process = serve(service, free_port(), {variable: value, f"{service.upper()}_DATABASE_URL": f"sqlite:///{tmp_path}/v.db"},
                    subprocess.PIPE)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode != 0
    assert variable in stderr.decode()


def test_a_port_already_taken_stops_the_process_with_the_startup_failure_code():
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        process = serve("portal", taken.getsockname()[1], {}, subprocess.PIPE)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 3  # uvicorn's STARTUP_FAILURE: a supervisor sees it did not start
    assert "address already in use" in stderr.decode().lower()


def _reader_key(url: str) -> str:
    from services.voting.models import SECURITY_MODELS
    from shared.security.credentials import create_api_key

    db = Database(url)
    try:
        with db.session() as session:
            return create_api_key(session, SECURITY_MODELS.api_key, name="ops-reader", scopes=["read"])
    finally:
        db.dispose()


@pytest.mark.broker
def test_stop_signal_flushes_the_outbox_and_logs_are_json(broker, tmp_path):
    url = f"sqlite:///{tmp_path}/voting.db"
    upgrade("voting", url)
    port = free_port()
    env = {
        "VOTING_DATABASE_URL": url,
        "VOTING_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
        # The relay would not look again for a minute: only the stop can send what follows.
        "VOTING_RELAY_POLL_INTERVAL": "60",
        **{f"VOTING_{k.upper()}": str(v) for k, v in FAST_KAFKA.items()},
    }
    reader_key = _reader_key(url)
    log_path = tmp_path / "voting.log"
    with open(log_path, "wb") as log:
        process = serve("voting", port, env, log)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz/ready", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            response = httpx.get(f"http://127.0.0.1:{port}/v1/meetings",
                                 headers={"X-Request-ID": "ops-req-1", "Authorization": f"Bearer {reader_key}"})
            assert response.status_code == 200

            # Rows written behind the relay's back (no commit hook in this process).
            db = Database(url)
            envelopes = [ballot_closed(), ballot_closed()]
            with db.session() as session:
                for envelope in envelopes:
                    enqueue(session, OutboxMessage, envelope)
            time.sleep(0.5)
            assert outbox_backlog(db, OutboxMessage)[0] == 2

            process.send_signal(signal.SIGTERM)
            # uvicorn shuts down gracefully, then re-raises the signal it caught.
            assert process.wait(30) in (0, -signal.SIGTERM)
        finally:
            if process.poll() is None:
                process.kill()
    assert outbox_backlog(db, OutboxMessage)[0] == 0

    consumer = KafkaConsumer(Topic.BALLOT_CLOSED.value, bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest")
    received = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(received) < 2:
        for records in consumer.poll(timeout_ms=200).values():
            received.extend(records)
    consumer.close()
    assert sorted(r.value for r in received) == sorted(e.to_bytes() for e in envelopes)

    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    assert all("event" in line and "level" in line and "timestamp" in line for line in lines)
    [access] = [line for line in lines if line.get("event") == "http_request" and line.get("path") == "/v1/meetings"]
    assert access["request_id"] == "ops-req-1"
    assert any(line.get("event") == "relay_stopped" for line in lines)


def test_events_cli_lists_and_retries_parked_events(tmp_path):
    from services.scoring.models import InboxMessage
    from shared.messaging.inbox import park

    url = f"sqlite:///{tmp_path}/scoring.db"
    upgrade("scoring", url)
    db = Database(url)
    envelope = ballot_closed()
    park(db, InboxMessage, envelope, "RuntimeError('plan unknown')", 5)
    env = {**os.environ, "SCORING_DATABASE_URL": url, "SCORING_LOG_JSON": "false"}

    listed = subprocess.run([sys.executable, "-m", "shared.ops.cli", "events", "parked", "scoring"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert str(envelope.event_id) in listed.stdout and "1 parked" in listed.stdout

    retried = subprocess.run([sys.executable, "-m", "shared.ops.cli", "events", "retry", "scoring"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert retried.returncode == 0, retried.stderr
    assert "handled 1, still failing 0" in retried.stdout
    with db.session() as session:
        assert session.get(InboxMessage, str(envelope.event_id)).status == "handled"
