"""The HTTP SMS gateway against a small SMS platform the test runs on 127.0.0.1: each
request is signed (HMAC-SHA256 over timestamp and body, checked here); when the
platform fails, the voter gets 503 `sms-unavailable` and is charged nothing (no
cooldown, no day count, no code), after a bounded number of retries."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from services.voting.models import PublicVerificationCode
from services.voting.verification.sms import SIGNATURE_HEADER, TIMESTAMP_HEADER

from ._support import assert_problem
from .test_verification import E164, PHONE, create_poll, request_code, verify, vote, with_settings

SECRET = "sms-platform-shared-secret-for-tests"


class SmsPlatform:
    def __init__(self) -> None:
        self.delivered: list[dict] = []
        self.attempts = 0
        self.bad_signatures = 0
        self.failing = False
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                platform.attempts += 1
                body = self.rfile.read(int(self.headers["Content-Length"]))
                timestamp = self.headers.get(TIMESTAMP_HEADER, "")
                expected = "sha256=" + hmac.new(SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
                if not hmac.compare_digest(self.headers.get(SIGNATURE_HEADER, ""), expected):
                    platform.bad_signatures += 1
                    self.send_response(401)
                elif platform.failing:
                    self.send_response(500)
                else:
                    platform.delivered.append(json.loads(body))
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/sms/send"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def last_code(self) -> str:
        return re.search(r"验证码为 (\d{6})", self.delivered[-1]["text"]).group(1)


@pytest.fixture
def platform() -> Iterator[SmsPlatform]:
    server = SmsPlatform()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


@pytest.fixture
def gateway(voting, platform):
    with_settings(voting.app, sms_gateway=platform.url, sms_gateway_secret=SECRET, sms_gateway_retries=2,
                  sms_gateway_timeout_seconds=5)
    return voting


def test_codes_are_sent_signed_and_work(gateway, platform):
    poll = create_poll(gateway.client)
    assert request_code(gateway.anonymous, poll["id"], "+86 139-0000-2222").status_code == 202
    assert platform.bad_signatures == 0 and platform.attempts == 1
    (message,) = platform.delivered
    assert message["to"] == E164
    issued = verify(gateway.anonymous, poll["id"], {"phone": PHONE, "code": platform.last_code()})
    assert issued.status_code == 201, issued.text
    assert vote(gateway.anonymous, poll["id"], issued.json()["pass"]).status_code == 201


def test_a_wrong_secret_is_refused_by_the_platform_and_answered_503(voting, platform):
    with_settings(voting.app, sms_gateway=platform.url, sms_gateway_secret="not-the-platforms-secret", sms_gateway_retries=2)
    poll = create_poll(voting.client)
    assert_problem(request_code(voting.anonymous, poll["id"]), 503, "sms-unavailable")
    assert platform.bad_signatures == 1 and platform.attempts == 1  # a 4xx is not retried
    assert platform.delivered == []


def test_a_failing_platform_is_503_and_charges_the_voter_nothing(gateway, platform):
    poll = create_poll(gateway.client)
    platform.failing = True
    failed = request_code(gateway.anonymous, poll["id"])
    assert_problem(failed, 503, "sms-unavailable")
    assert failed.headers["retry-after"]
    assert platform.attempts == 3  # one try and two retries, then give up
    with gateway.db.session() as session:
        row = session.scalars(select(PublicVerificationCode)).one()
        assert (row.code_hash, row.sent_at, row.sent_that_day) == (None, None, 0)
    # No cooldown was started and no code is valid: once the platform is back, the voter asks again at once.
    assert_problem(verify(gateway.anonymous, poll["id"], {"phone": PHONE, "code": "000000"}), 401, "code-expired")
    platform.failing = False
    assert request_code(gateway.anonymous, poll["id"]).status_code == 202
    with gateway.db.session() as session:
        assert session.scalars(select(PublicVerificationCode.sent_that_day)).one() == 1
    assert verify(gateway.anonymous, poll["id"], {"phone": PHONE, "code": platform.last_code()}).status_code == 201


def test_an_unreachable_platform_is_503(voting):
    with_settings(voting.app, sms_gateway="http://127.0.0.1:9/unreachable", sms_gateway_secret=SECRET, sms_gateway_retries=1,
                  sms_gateway_timeout_seconds=2)
    poll = create_poll(voting.client)
    assert_problem(request_code(voting.anonymous, poll["id"]), 503, "sms-unavailable")
