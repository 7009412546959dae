"""Webhooks, against a receiver this test starts on the loopback: the voting
service's real app (its dispatcher thread running) on a database that really
commits, SQLite and Postgres. No broker runs: deliveries come from the outbox,
not from Kafka."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from shared.security.credentials import create_api_key
from shared.db import Database
from shared.messaging.events import Envelope
from shared.ops.migrations import upgrade
from shared.web.problems import Problem
from shared.messaging.webhooks import RetryPolicy, UrlPolicy, new_secret
from tests.conftest import create_app_for, settings_for
from tests.voting._support import assert_problem
from tests.waiting import wait_for

FAST_RETRIES = dict(run_webhooks=True, webhook_retry_base_seconds=0.1, webhook_retry_max_interval_seconds=0.3,
                    webhook_retry_window_seconds=120, webhook_poll_interval=0.05, webhook_timeout_seconds=5)


class Receiver:
    """An HTTP receiver on 127.0.0.1 that records every request and answers `status`."""

    def __init__(self, port: int | None = None, status: int = 200) -> None:
        self.port = port or free_port()
        self.status = status
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/pingyi/events"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def voting_with_webhooks(url: str, **overrides) -> Iterator[TestClient]:
    upgrade("voting", url)
    db = Database(url)
    app = create_app_for("voting", settings_for("voting", db.url, **{**FAST_RETRIES, **overrides}), db)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            with db.session() as session:
                key = create_api_key(session, app.state.security_models.api_key, name="voting-operator",
                                     scopes=["voting:admin", "read"])
            client.headers.update({"Authorization": f"Bearer {key}"})
            yield client
    finally:
        db.dispose()


@pytest.fixture
def committed_url(backend, fresh_database_url) -> str:
    return fresh_database_url(backend, "webhooks")


def register(client: TestClient, url: str, **fields) -> dict:
    body = {"url": url, "event_types": ["ballot.closed"], "description": "12345政务服务便民热线平台"} | fields
    resp = client.post("/v1/webhooks", json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


def close_a_ballot(client: TestClient, number: str = "第四十四次会议") -> str:
    """A satisfaction ballot opened and closed: one ballot.closed event. Returns the ballot id."""
    meeting = client.post("/v1/meetings", json={"number": number, "held_on": "2021-08-26",
                                                "members": [{"member_id": "m1", "name": "张三"}]}).json()
    assert client.post(f"/v1/meetings/{meeting['id']}/check-ins", json={"member_ids": ["m1"]}).status_code == 200
    ballot = client.post(f"/v1/meetings/{meeting['id']}/ballots",
                         json={"department": "淄博市教育局", "evaluation_year": 2021}).json()
    assert client.post(f"/v1/ballots/{ballot['id']}/open").status_code == 200
    resp = client.post(f"/v1/ballots/{ballot['id']}/close")
    assert resp.status_code == 200, resp.text
    return ballot["id"]


def deliveries(client: TestClient, webhook_id: str) -> list[dict]:
    resp = client.get(f"/v1/webhooks/{webhook_id}/deliveries")
    assert resp.status_code == 200, resp.text
    return resp.json()["items"]


# --- delivery, signature, redelivery -----------------------------------------------


def test_a_signed_delivery_arrives_and_a_wrong_secret_fails_verification(committed_url):
    receiver = Receiver().start()
    try:
        with voting_with_webhooks(committed_url) as client:
            created = register(client, receiver.url)
            assert created["secret"].startswith("whsec_") and created["status"] == "active"
            # Shown once: no other answer carries it.
            assert "secret" not in client.get(f"/v1/webhooks/{created['id']}").json()
            assert all("secret" not in item for item in client.get("/v1/webhooks").json()["items"])

            ballot_id = close_a_ballot(client)
            wait_for(lambda: receiver.requests, "the delivery")
            headers, body = receiver.requests[0]

            envelope = Envelope.model_validate(Webhook(created["secret"]).verify(body, headers))
            assert envelope.type == "ballot.closed" and envelope.payload["ballot_id"] == ballot_id
            assert headers["webhook-id"] == str(envelope.event_id)
            with pytest.raises(WebhookVerificationError):
                Webhook(new_secret()).verify(body, headers)
            with pytest.raises(WebhookVerificationError):  # a body changed on the way
                Webhook(created["secret"]).verify(body.replace(b"2021", b"2022"), headers)

            [logged] = wait_for(lambda: [d for d in deliveries(client, created["id"]) if d["status"] == "delivered"],
                                "the log to show it delivered")
            assert logged["event_id"] == str(envelope.event_id)
            assert (logged["attempts"], logged["last_response_code"], logged["last_error"]) == (1, 200, None)
    finally:
        receiver.stop()


def test_a_redelivered_event_carries_the_same_webhook_id(committed_url):
    receiver = Receiver().start()
    try:
        with voting_with_webhooks(committed_url) as client:
            created = register(client, receiver.url)
            close_a_ballot(client)
            [first] = wait_for(lambda: [d for d in deliveries(client, created["id"]) if d["status"] == "delivered"],
                               "the first delivery")
            resp = client.post(f"/v1/webhooks/{created['id']}/deliveries/{first['id']}/redelivery")
            assert resp.status_code == 202, resp.text
            wait_for(lambda: len(receiver.requests) == 2, "the redelivery")
            (h1, b1), (h2, b2) = receiver.requests
            assert h1["webhook-id"] == h2["webhook-id"] == first["event_id"]
            assert b1 == b2
            Webhook(created["secret"]).verify(b2, h2)  # signed afresh
            again = wait_for(lambda: [d for d in deliveries(client, created["id"]) if d["attempts"] == 2
                                      and d["status"] == "delivered"], "the log to count the redelivery")
            assert again[0]["id"] == first["id"]

            missing = client.post(f"/v1/webhooks/{created['id']}/deliveries/999999/redelivery")
            assert_problem(missing, 404, "not-found")
    finally:
        receiver.stop()


def test_receiver_down_then_up_gets_the_event_with_the_retries_logged(committed_url):
    receiver = Receiver()  # its port is known, nothing listens yet
    try:
        with voting_with_webhooks(committed_url) as client:
            created = register(client, receiver.url)
            close_a_ballot(client)
            failing = wait_for(lambda: [d for d in deliveries(client, created["id"]) if d["attempts"] >= 2],
                               "two failed attempts")
            assert failing[0]["status"] == "pending"
            assert failing[0]["last_response_code"] is None and "Connect" in failing[0]["last_error"]
            assert failing[0]["next_attempt_at"] is not None

            receiver.start()
            [done] = wait_for(lambda: [d for d in deliveries(client, created["id"]) if d["status"] == "delivered"],
                              "the delivery once the receiver is up")
            assert done["attempts"] >= 3 and done["last_response_code"] == 200 and done["last_error"] is None
            assert [h["webhook-id"] for h, _ in receiver.requests] == [done["event_id"]]
            subscription = client.get(f"/v1/webhooks/{created['id']}").json()
            assert subscription["status"] == "active" and subscription["consecutive_failures"] == 0
    finally:
        receiver.stop()


def test_a_receiver_that_keeps_failing_gets_its_subscription_disabled(committed_url):
    receiver = Receiver(status=500).start()
    try:
        with voting_with_webhooks(committed_url, webhook_retry_window_seconds=1.0) as client:
            created = register(client, receiver.url)
            close_a_ballot(client)
            disabled = wait_for(lambda: (s := client.get(f"/v1/webhooks/{created['id']}").json())["status"] == "disabled"
                                and s, "the subscription to be disabled")
            [given_up] = deliveries(client, created["id"])
            assert given_up["status"] == "failed" and given_up["last_response_code"] == 500
            assert given_up["attempts"] >= 2 and len(receiver.requests) == given_up["attempts"]
            assert given_up["event_id"] in disabled["disabled_reason"] and "HTTP 500" in disabled["disabled_reason"]
            assert 'pingyi_webhook_subscriptions{status="disabled"} 1.0' in client.get("/metrics").text

            # While disabled, new events are kept, not sent; resume sends them.
            close_a_ballot(client, number="第四十五次会议")
            time.sleep(0.3)  # several dispatcher polls: nothing may go out
            assert len(receiver.requests) == given_up["attempts"]
            receiver.status = 200
            resumed = client.post(f"/v1/webhooks/{created['id']}/resume")
            assert resumed.status_code == 200 and resumed.json()["disabled_reason"] is None
            wait_for(lambda: [d for d in deliveries(client, created["id"]) if d["status"] == "delivered"],
                     "the kept event after resume")
            # The given-up one stays failed until someone redelivers it.
            assert [d["status"] for d in deliveries(client, created["id"])] == ["failed", "delivered"]
    finally:
        receiver.stop()


def test_pause_keeps_events_and_delete_removes_the_subscription(committed_url):
    receiver = Receiver().start()
    try:
        with voting_with_webhooks(committed_url) as client:
            created = register(client, receiver.url)
            assert client.post(f"/v1/webhooks/{created['id']}/pause").json()["status"] == "paused"
            close_a_ballot(client)
            time.sleep(0.3)
            assert receiver.requests == []
            assert [d["status"] for d in deliveries(client, created["id"])] == ["pending"]
            client.post(f"/v1/webhooks/{created['id']}/resume")
            wait_for(lambda: receiver.requests, "the delivery after resume")

            assert client.delete(f"/v1/webhooks/{created['id']}").status_code == 204
            assert_problem(client.get(f"/v1/webhooks/{created['id']}"), 404, "not-found")
            assert client.get("/v1/webhooks").json()["items"] == []
    finally:
        receiver.stop()


def test_only_subscribed_types_are_delivered_and_a_rolled_back_event_never_is(committed_url):
    with voting_with_webhooks(committed_url, run_webhooks=False) as client:
        created = register(client, "http://127.0.0.1:9/unused")
        # A refused close (not open yet) writes no event, so no delivery.
        meeting = client.post("/v1/meetings", json={"number": "第一次会议", "held_on": "2021-01-01",
                                                    "members": [{"member_id": "m1", "name": "张三"}]}).json()
        ballot = client.post(f"/v1/meetings/{meeting['id']}/ballots",
                             json={"department": "淄博市教育局", "evaluation_year": 2021}).json()
        assert client.post(f"/v1/ballots/{ballot['id']}/close").status_code == 409
        assert deliveries(client, created["id"]) == []
        close_a_ballot(client)
        assert [d["event_type"] for d in deliveries(client, created["id"])] == ["ballot.closed"]


# --- registration ------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "http://10.1.2.3/hook",                 # a private network
    "http://169.254.169.254/latest/meta-data",  # the cloud metadata address
    "http://[::1]:8080/hook",               # loopback over IPv6, not in the allowed networks
    "https://receiver.example.gov.cn/hook",  # not in WEBHOOK_ALLOWED_HOSTS
    "ftp://127.0.0.1/hook",
    "http://user:pw@127.0.0.1/hook",
])
def test_a_disallowed_url_is_refused_at_registration(voting, url):
    resp = voting.client.post("/v1/webhooks", json={"url": url, "event_types": ["ballot.closed"], "description": "x"})
    if resp.status_code == 422 and resp.json()["type"].endswith("validation-error"):
        return  # the schema already refuses it (no http(s) URL)
    body = assert_problem(resp, 422, "webhook-url-not-allowed")
    assert url in body["detail"]
    assert voting.client.get("/v1/webhooks").json()["items"] == []


def test_loopback_is_refused_unless_the_setting_allows_it(voting):
    voting.app.state.settings = voting.app.state.settings.model_copy(update={"webhook_allowed_networks": ""})
    resp = voting.client.post("/v1/webhooks", json={"url": "http://127.0.0.1:8080/hook",
                                                    "event_types": ["ballot.closed"], "description": "内网"})
    assert "internal address 127.0.0.1" in assert_problem(resp, 422, "webhook-url-not-allowed")["detail"]


def test_registration_takes_only_this_services_events_and_an_admin(voting):
    resp = voting.client.post("/v1/webhooks", json={"url": "http://127.0.0.1:8080/hook",
                                                    "event_types": ["rereport.scheduled"], "description": "x"})
    assert_problem(resp, 422, "validation-error")
    reader = voting.api_key("read")
    resp = voting.anonymous.post("/v1/webhooks", headers=reader, json={
        "url": "http://127.0.0.1:8080/hook", "event_types": ["ballot.closed"], "description": "x"})
    assert_problem(resp, 403, "missing-scope")
    assert voting.client.get("/v1/webhooks").json()["items"] == []


def test_registration_is_idempotent(voting):
    body = {"url": "http://127.0.0.1:8080/hook", "event_types": ["ballot.closed"], "description": "12345平台"}
    headers = {"Idempotency-Key": "9b7c1c7e-webhook"}
    first = voting.client.post("/v1/webhooks", json=body, headers=headers)
    again = voting.client.post("/v1/webhooks", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true" and again.json()["id"] == first.json()["id"]
    assert len(voting.client.get("/v1/webhooks").json()["items"]) == 1


# --- the rules, without I/O -------------------------------------------------------


def test_retries_back_off_exponentially_until_the_window_ends():
    policy = RetryPolicy(base_seconds=5, max_interval_seconds=3600, window_seconds=86400)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    now, waits = start, []
    for attempts in range(1, 100):
        nxt = policy.next_attempt(attempts, start, now)
        if nxt is None:
            break
        waits.append((nxt - now).total_seconds())
        now = nxt
    assert waits[:5] == [5, 10, 20, 40, 80]
    assert max(waits) == 3600 and now == start + dt.timedelta(hours=24)  # the last try falls on the deadline


def test_url_policy_reads_literal_addresses_without_dns():
    policy = UrlPolicy.parse("", "10.20.0.0/16")
    policy.check("http://10.20.3.4:8443/hook")  # an allowed internal network: plain http is fine
    for refused in ("http://10.21.0.1/hook", "http://192.168.1.1/", "http://100.64.0.1/", "https://[fe80::1]/"):
        with pytest.raises(Problem) as caught:
            policy.check(refused)
        assert caught.value.slug == "webhook-url-not-allowed"
    hosts = UrlPolicy.parse("*.gov.cn,127.0.0.1", "127.0.0.0/8")
    with pytest.raises(Problem):
        hosts.check("https://evil.example/hook")
    hosts.check("http://127.0.0.1:1/hook")


def test_the_signature_is_the_standard_webhooks_one():
    from shared.messaging.webhooks import signed_headers

    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the Standard Webhooks spec's example key
    at = dt.datetime.fromtimestamp(1614265330, dt.UTC)
    headers = signed_headers(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", '{"test": 2432232314}', at)
    assert headers["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert headers["webhook-id"] == "msg_p5jXN8AQM9LWM0D4loKWxJek" and headers["webhook-timestamp"] == "1614265330"


def test_webhook_reads_need_the_admin_scope_in_voting(voting):
    assert_webhook_reads_need_the_admin_scope(voting, "voting")


def test_webhook_reads_need_the_admin_scope_in_scoring(scoring):
    assert_webhook_reads_need_the_admin_scope(scoring, "scoring")


def test_webhook_reads_need_the_admin_scope_in_tracking(tracking):
    assert_webhook_reads_need_the_admin_scope(tracking, "tracking")


def assert_webhook_reads_need_the_admin_scope(svc, service: str) -> None:
    """A subscription's URL and delivery log are the integrator's and the admin's, not any reader's."""
    schemas = svc.app.openapi()["components"]["schemas"]
    (event_type, *_) = schemas[f"{service.capitalize()}EventType"]["enum"]
    webhook = svc.client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hooks/pingyi",
                                                   "event_types": [event_type], "description": "12345平台"})
    assert webhook.status_code == 201, webhook.text
    paths = [path.replace("{webhook_id}", webhook.json()["id"])
             for path, item in svc.app.openapi()["paths"].items() if path.startswith("/v1/webhooks") and "get" in item]
    assert len(paths) == 3
    refused = {"reader": svc.api_key("read"), f"{service} reader": svc.api_key(f"{service}:read"),
               "member": svc.member_token("m01", "mtg-1")}
    for path in paths:
        assert svc.client.get(path).status_code == 200, path  # the harness's admin key
        for kind, headers in refused.items():
            problem = assert_problem(svc.anonymous.get(path, headers=headers), 403, "missing-scope")
            assert problem["required_scope"] == f"{service}:admin", (kind, path)
        assert svc.anonymous.get(path).status_code == 401, path
