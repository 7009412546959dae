"""Credentials, per-credential rate limits and the audit chain as the services
apply them: through HTTP, the `pingyi` commands and the event inbox."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import String, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.security.audit import AuditMixin, verify
from shared.db import Database, new_metadata
from shared.messaging.inbox import InboxMixin, handle_once
from shared.ops.migrations import upgrade
from shared.security.access import install_audit
from tests.conftest import create_app_for, settings_for
from tests.test_delivery import ballot_closed

MEMBERS = [{"member_id": f"m{i:02d}", "name": f"委员{i:02d}"} for i in range(1, 4)]


def new_meeting(client: TestClient, number: str = "第四十四次会议", **kwargs):
    return client.post("/v1/meetings", json={"number": number, "held_on": "2021-02-26", "members": MEMBERS}, **kwargs)


def audit_entries(harness) -> list[dict]:
    response = harness.client.get("/v1/admin/audit-log", params={"limit": 100})
    assert response.status_code == 200, response.text
    return response.json()["items"]


# --- credentials ------------------------------------------------------------------


def test_admin_routes_refuse_no_credential_and_a_missing_scope(voting):
    anonymous = voting.anonymous.get("/v1/admin/audit-log")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert anonymous.json()["type"] == "urn:pingyi:problem:unauthenticated"

    reader = voting.client.get("/v1/admin/audit-log", headers=voting.api_key("read"))
    assert reader.status_code == 403
    assert reader.json()["type"] == "urn:pingyi:problem:missing-scope"
    assert reader.json()["required_scope"] == "voting:admin"


def test_a_key_of_one_service_admin_is_not_another_services_admin(scoring):
    other = scoring.client.get("/v1/admin/audit-log", headers=scoring.api_key("voting:admin"))
    assert other.status_code == 403 and other.json()["required_scope"] == "scoring:admin"


@pytest.mark.parametrize("credential", ["pyk_nothere_x", "not-a-jwt", "pyk_"])
def test_an_unknown_credential_is_401_not_anonymous(voting, credential):
    response = voting.client.get("/v1/admin/audit-log", headers={"Authorization": f"Bearer {credential}"})
    assert response.status_code == 401 and response.json()["type"] == "urn:pingyi:problem:unauthenticated"


def test_a_member_token_signed_with_another_secret_is_refused(voting):
    from shared.security.credentials import issue_member_token

    forged = issue_member_token("someone-elses-secret-0123456789abcdefgh", member_id="m01", meeting_id="x", scopes=["voting:admin"])
    response = voting.client.get("/v1/admin/audit-log", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401 and "invalid" in response.json()["detail"]


def test_each_credential_has_its_own_rate_limit(rolled_back_db):
    db = rolled_back_db("voting", "sqlite")
    app = create_app_for("voting", settings_for("voting", db.url, rate_limit_credential="3/minute"), db)
    from shared.security.credentials import create_api_key
    from services.voting.models import SECURITY_MODELS

    with db.session() as session:
        first = create_api_key(session, SECURITY_MODELS.api_key, name="first", scopes=["voting:admin"])
        second = create_api_key(session, SECURITY_MODELS.api_key, name="second", scopes=["voting:admin"])
    with TestClient(app, raise_server_exceptions=False) as client:
        as_first = {"Authorization": f"Bearer {first}"}
        answers = [client.get("/v1/admin/audit-log", headers=as_first) for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert [a.headers["x-ratelimit-remaining"] for a in answers] == ["2", "1", "0", "0"]
        refused = answers[-1]
        assert refused.json()["type"] == "urn:pingyi:problem:rate-limited"
        assert refused.headers["x-ratelimit-limit"] == "3"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        # Another caller is counted apart.
        assert client.get("/v1/admin/audit-log", headers={"Authorization": f"Bearer {second}"}).status_code == 200


# --- the audit chain through HTTP -----------------------------------------------------


def test_a_write_request_is_audited_with_its_caller_and_request_id(voting):
    created = new_meeting(voting.client, headers={"X-Request-ID": "req-audit-1"})
    assert created.status_code == 201, created.text
    [entry] = [e for e in audit_entries(voting) if e["action"] == "POST /v1/meetings"]
    assert entry["actor"] == "voting-operator"
    assert entry["subject"] == "/v1/meetings"
    assert entry["detail"]["request_id"] == "req-audit-1"
    assert entry["seq"] is not None and len(entry["hash"]) == 64  # linked before it is shown
    assert voting.client.get("/v1/admin/audit-log/verification").json() == {
        "intact": True, "entries_checked": len(audit_entries(voting)), "first_broken_id": None, "reason": None,
        "pending": 0}


def test_a_refused_request_leaves_no_audit_entry(voting):
    before = audit_entries(voting)
    refused = voting.client.post("/v1/meetings", json={"number": "第一次会议", "held_on": "not a date", "members": MEMBERS})
    assert refused.status_code == 422
    assert audit_entries(voting) == before


def test_reading_leaves_no_audit_entry(voting):
    new_meeting(voting.client)
    before = audit_entries(voting)
    voting.client.get("/v1/meetings")
    assert audit_entries(voting) == before


def test_an_edited_audit_row_is_named_by_the_admin_endpoint(voting):
    for n in range(3):
        assert new_meeting(voting.client, number=f"第{n + 40}次会议").status_code == 201
    entries = audit_entries(voting)
    target = entries[1]["id"]
    with voting.db.session() as session:
        session.execute(text("UPDATE audit_log SET actor = 'someone-else' WHERE id = :id"), {"id": target})
    check = voting.client.get("/v1/admin/audit-log/verification").json()
    assert check["intact"] is False
    assert check["first_broken_id"] == target
    assert check["entries_checked"] == 1
    assert "edited" in check["reason"]


# --- the `pingyi` commands against a real database -------------------------------------


def pingyi(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shared.ops.cli", *args], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def voting_database(backend, fresh_database_url):
    url = fresh_database_url(backend, "voting")
    upgrade("voting", url)
    return url


def test_keys_are_created_listed_and_revoked_by_command(voting_database):
    env = {"VOTING_DATABASE_URL": voting_database}
    created = pingyi("keys", "create", "12345平台", "--scope", "voting:admin", "--scope", "read", "--services", "voting", env=env)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("pyk_") and "not shown again" in created.stderr

    db = Database(voting_database)
    try:
        app = create_app_for("voting", settings_for("voting", voting_database), db)
        with TestClient(app, raise_server_exceptions=False) as client:
            as_key = {"Authorization": f"Bearer {key}"}
            assert client.get("/v1/admin/audit-log", headers=as_key).status_code == 200

            listed = pingyi("keys", "list", "--services", "voting", env=env)
            assert "12345平台" in listed.stdout and "voting:admin" in listed.stdout
            assert key not in listed.stdout and key.split("_", 2)[2] not in listed.stdout

            revoked = pingyi("keys", "revoke", "12345平台", "--services", "voting", env=env)
            assert revoked.returncode == 0, revoked.stderr
            assert client.get("/v1/admin/audit-log", headers=as_key).status_code == 401
    finally:
        db.dispose()
    assert pingyi("keys", "revoke", "12345平台", "--services", "voting", env=env).returncode == 1


def test_keys_create_refuses_unknown_scopes_and_taken_names(voting_database):
    env = {"VOTING_DATABASE_URL": voting_database}
    unknown = pingyi("keys", "create", "x", "--scope", "voting:everything", "--services", "voting", env=env)
    assert unknown.returncode == 2 and "voting:everything" in unknown.stderr
    assert pingyi("keys", "create", "x", "--scope", "read", "--services", "voting", env=env).returncode == 0
    taken = pingyi("keys", "create", "x", "--scope", "read", "--services", "voting", env=env)
    assert taken.returncode == 1 and "exists" in taken.stderr


def test_audit_verify_command_names_the_first_broken_row(voting_database):
    db = Database(voting_database)
    try:
        app = create_app_for("voting", settings_for("voting", voting_database), db)
        from shared.security.credentials import create_api_key
        from services.voting.models import SECURITY_MODELS

        with db.session() as session:
            key = create_api_key(session, SECURITY_MODELS.api_key, name="clerk", scopes=["voting:admin"])
        with TestClient(app, raise_server_exceptions=False) as client:
            for n in range(3):
                assert new_meeting(client, number=f"第{n + 50}次会议", headers={"Authorization": f"Bearer {key}"}).status_code == 201
        env = {"VOTING_DATABASE_URL": voting_database}
        intact = pingyi("audit", "verify", "voting", env=env)
        assert intact.returncode == 0 and "voting: intact, 3 entries, head 3:" in intact.stdout
        assert pingyi("audit", "verify", "voting", "--anchor", intact.stdout.strip().rsplit("head ", 1)[1], env=env).returncode == 0

        with db.session() as session:
            target = session.execute(text("SELECT id FROM audit_log ORDER BY id LIMIT 1 OFFSET 1")).scalar()
            session.execute(text("UPDATE audit_log SET detail = '{}' WHERE id = :id"), {"id": target})
        broken = pingyi("audit", "verify", "voting", env=env)
        assert broken.returncode == 1
        assert f"BROKEN at entry {target}" in broken.stdout

        # Rewriting history from that entry on, every hash recomputed, holds as a chain,
        # but not against the head an earlier run printed and someone kept elsewhere.
        from shared.security.audit import GENESIS_HASH, entry_hash

        head = intact.stdout.strip().rsplit("head ", 1)[1]
        with db.session() as session:
            previous = GENESIS_HASH
            for row in session.scalars(select(SECURITY_MODELS.audit_entry).order_by(SECURITY_MODELS.audit_entry.seq)):
                row.previous_hash = previous
                row.hash = previous = entry_hash(previous, row.content())
        assert pingyi("audit", "verify", "voting", env=env).returncode == 0
        rewritten = pingyi("audit", "verify", "voting", "--anchor", head, env=env)
        assert rewritten.returncode == 1 and "REWRITTEN: entry 3" in rewritten.stdout
        assert pingyi("audit", "verify", "--anchor", head, env=env).returncode == 2  # an anchor needs its service
    finally:
        db.dispose()


# --- handled events ------------------------------------------------------------------------


class Base(DeclarativeBase):
    metadata = new_metadata()


class Inbox(InboxMixin, Base):
    pass


class Audit(AuditMixin, Base):
    pass


class Effect(Base):
    __tablename__ = "effects"
    ballot_id: Mapped[str] = mapped_column(String(36), primary_key=True)


def test_a_handled_event_is_audited_once_even_when_delivered_twice(backend, fresh_database_url):
    db = Database(fresh_database_url(backend, "events"))
    Base.metadata.create_all(db.engine)
    install_audit(db.sessionmaker, Audit)
    envelope = ballot_closed("淄博市教育局").model_copy(update={"key": "淄博市教育局"})

    def handler(session, event):
        session.add(Effect(ballot_id=event.payload["ballot_id"]))

    try:
        assert handle_once(db, Inbox, handler, envelope) == "handled"
        assert handle_once(db, Inbox, handler, envelope) == "duplicate"
        with db.session() as session:
            entries = session.scalars(select(Audit)).all()
            assert [(e.actor, e.action, e.subject) for e in entries] == [
                (f"event:{envelope.event_id}", "handle ballot.closed", "淄博市教育局")]
            assert verify(session, Audit).intact
    finally:
        db.dispose()



# --- shared rate-limit counts ----------------------------------------------------------------


def test_replicas_share_rate_limit_counts_through_redis():
    """Two processes' limiters on the same Redis count together (compose runs it)."""
    from shared.web.ratelimit import RateLimiter

    uri = os.environ.get("PINGYI_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    name = f"public_read_{uuid.uuid4().hex[:8]}"
    replica_a = RateLimiter(uri, {name: "3/minute"})
    replica_b = RateLimiter(uri, {name: "3/minute"})
    verdicts = [replica_a.hit(name, "203.0.113.7"), replica_b.hit(name, "203.0.113.7"), replica_a.hit(name, "203.0.113.7"),
                replica_b.hit(name, "203.0.113.7")]
    assert [v.allowed for v in verdicts] == [True, True, True, False]
    assert verdicts[-1].headers()["Retry-After"] == str(verdicts[-1].reset_after)
    assert replica_a.hit(name, "198.51.100.1").allowed  # another client is counted apart


def test_a_department_scope_needs_a_department(voting_database):
    refused = pingyi("keys", "create", "教育局", "--scope", "tracking:write", "--services", "voting",
                     env={"VOTING_DATABASE_URL": voting_database})
    assert refused.returncode == 2 and "--department" in refused.stderr


def test_requests_go_through_uncounted_when_the_shared_store_is_down():
    from shared.messaging.broker import free_port
    from shared.web.ratelimit import RateLimiter

    limiter = RateLimiter(f"redis://127.0.0.1:{free_port()}/0", {"public_read": "1/minute"})
    verdicts = [limiter.hit("public_read", "203.0.113.7") for _ in range(3)]
    assert all(v.allowed for v in verdicts)
