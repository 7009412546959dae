"""Code requests and code checks are written in batches (services/voting/verification/writer.py):
requests arriving together for one phone, on one replica or two on one database, still get
one code, one pass, and no wrong guess past the lock; each batch is one audit entry that
names no phone and no code; an unreachable database answers 503 and counts nothing."""

from __future__ import annotations

import json
import threading

from sqlalchemy import select

from services.voting.models import AuditEntry, PublicVerificationCode
from shared.security.audit import verify as verify_chain
from shared.web.problems import PROBLEM_TYPE_BASE

from ._support import Background, assert_problem, committed
from .test_verification import E164, PHONE, SPELLINGS, Outbox, create_poll, request_code, verify

# Limits per address and per phone raised out of the way: the batches alone decide.
WIDE = {"rate_limit_verification_code_ip": "1000/minute", "rate_limit_verification_ip": "1000/minute"}


def slug(resp) -> str:
    return resp.json()["type"].removeprefix(PROBLEM_TYPE_BASE)


def at_once(n: int, call) -> list:
    """`call(i)` from n threads released together; their results."""
    barrier = threading.Barrier(n)

    def run(i: int):
        barrier.wait(30)
        return call(i)

    threads = [Background(run, i) for i in range(n)]
    for t in threads:
        t.start()
    return [t.outcome(60) for t in threads]


def code_row(db, poll_id: str) -> PublicVerificationCode:
    with db.session() as session:
        return session.scalars(select(PublicVerificationCode).where(PublicVerificationCode.poll_id == poll_id)).one()


def audit_details(db, action: str) -> list[dict]:
    with db.session() as session:
        return [json.loads(d) for d in session.scalars(select(AuditEntry.detail).where(AuditEntry.action == action))]


def test_twenty_requests_for_one_phone_at_once_send_one_code(backend, fresh_database_url, tmp_path):
    outbox = Outbox(tmp_path / "sms.jsonl")
    with committed(fresh_database_url(backend, "voting_codes_twenty"), sms_gateway=f"file:{outbox.path}", **WIDE) as v:
        poll = create_poll(v.client)
        answers = at_once(20, lambda i: request_code(v.from_address(f"192.0.2.{i + 1}"), poll["id"],
                                                       SPELLINGS[i % len(SPELLINGS)]))
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [202] + [429] * 19
        assert {slug(a) for a in answers if a.status_code == 429} == {"code-resend-too-soon"}
        assert [m["to"] for m in outbox.messages()] == [E164]
        assert code_row(v.db, poll["id"]).sent_that_day == 1
        reserved = sum(d["batch"][poll["id"]]["codes_reserved"]
                       for d in audit_details(v.db, "POST /v1/public-polls/{poll_id}/verification-codes"))
        assert reserved == 1


def test_twenty_checks_of_one_code_at_once_give_one_pass(backend, fresh_database_url, tmp_path):
    outbox = Outbox(tmp_path / "sms.jsonl")
    with committed(fresh_database_url(backend, "voting_checks_twenty"), sms_gateway=f"file:{outbox.path}", **WIDE) as v:
        poll = create_poll(v.client)
        assert request_code(v.from_address("192.0.2.99"), poll["id"]).status_code == 202
        code = outbox.last_code()
        answers = at_once(20, lambda i: verify(v.from_address(f"192.0.2.{i + 1}"), poll["id"],
                                               {"phone": PHONE, "code": code}))
        assert sorted(a.status_code for a in answers) == [201] + [401] * 19
        assert {slug(a) for a in answers if a.status_code == 401} == {"code-expired"}
        assert code_row(v.db, poll["id"]).code_hash is None


def test_wrong_guesses_at_once_stop_at_the_lock(backend, fresh_database_url, tmp_path):
    outbox = Outbox(tmp_path / "sms.jsonl")
    with committed(fresh_database_url(backend, "voting_guesses"), sms_gateway=f"file:{outbox.path}", **WIDE) as v:
        poll = create_poll(v.client)
        assert request_code(v.from_address("192.0.2.99"), poll["id"]).status_code == 202
        code = outbox.last_code()
        wrong = [f"{(int(code) + k) % 10 ** 6:06d}" for k in range(1, 13)]
        answers = at_once(12, lambda i: verify(v.from_address(f"192.0.2.{i + 1}"), poll["id"],
                                               {"phone": PHONE, "code": wrong[i]}))
        slugs = sorted(slug(a) for a in answers)
        # Five wrong tries are counted (the fifth locks); every later guess meets the lock.
        assert slugs == ["verification-locked"] * 8 + ["wrong-code"] * 4
        assert sorted(a.json()["attempts_left"] for a in answers if a.status_code == 401) == [1, 2, 3, 4]
        # The right code is void now.
        assert_problem(verify(v.from_address("192.0.2.99"), poll["id"], {"phone": PHONE, "code": code}),
                       429, "verification-locked")
        counted = audit_details(v.db, "POST /v1/public-polls/{poll_id}/verifications")
        assert sum(d["batch"][poll["id"]].get("wrong-code", 0) for d in counted) == 4
        assert sum(d["batch"][poll["id"]].get("verification-locked", 0) for d in counted) == 8 + 1


def test_two_replicas_on_one_database_give_one_code_and_one_pass(backend, fresh_database_url, tmp_path):
    outbox = Outbox(tmp_path / "sms.jsonl")
    url = fresh_database_url(backend, "voting_verification_two_replicas")
    settings = {"sms_gateway": f"file:{outbox.path}", **WIDE}
    with committed(url, **settings) as one, committed(url, **settings) as two:
        poll = create_poll(one.client)
        replicas = [one, two]
        sent = at_once(10, lambda i: request_code(replicas[i % 2].from_address(f"192.0.2.{i + 1}"), poll["id"]))
        assert sorted(a.status_code for a in sent) == [202] + [429] * 9
        assert len(outbox.messages()) == 1
        code = outbox.last_code()
        checked = at_once(10, lambda i: verify(replicas[i % 2].from_address(f"192.0.2.{i + 1}"), poll["id"],
                                               {"phone": PHONE, "code": code}))
        assert sorted(a.status_code for a in checked) == [201] + [401] * 9
        with one.db.session() as session:
            assert verify_chain(session, AuditEntry).intact


def test_audit_entries_name_no_phone_and_no_code(backend, fresh_database_url, tmp_path):
    outbox = Outbox(tmp_path / "sms.jsonl")
    with committed(fresh_database_url(backend, "voting_verification_audit"), sms_gateway=f"file:{outbox.path}") as v:
        poll = create_poll(v.client)
        client = v.from_address("192.0.2.7")
        assert request_code(client, poll["id"]).status_code == 202
        code = outbox.last_code()
        assert verify(client, poll["id"], {"phone": PHONE, "code": f"{(int(code) + 1) % 10 ** 6:06d}"}).status_code == 401
        assert verify(client, poll["id"], {"phone": PHONE, "code": code}).status_code == 201
        row = code_row(v.db, poll["id"])
        with v.db.session() as session:
            entries = session.scalars(select(AuditEntry).where(AuditEntry.action.like("%verification%"))).all()
        assert [json.loads(e.detail)["batch"] for e in entries] == [
            {poll["id"]: {"codes_reserved": 1}}, {poll["id"]: {"wrong-code": 1}}, {poll["id"]: {"verified": 1}}]
        for entry in entries:
            assert entry.actor == "public" and entry.subject.endswith(poll["id"] + entry.action.rsplit("}", 1)[1])
            for secret in (PHONE, E164, "0000" + "2222", code, row.phone_hash):
                assert secret not in entry.detail


def test_a_database_that_fails_answers_503_and_counts_nothing(backend, fresh_database_url, tmp_path):
    outbox = Outbox(tmp_path / "sms.jsonl")
    with committed(fresh_database_url(backend, "voting_verification_db_down"), sms_gateway=f"file:{outbox.path}") as v:
        poll = create_poll(v.client)
        from services.voting.verification.endpoints import verification_writer

        writer = verification_writer(v.app)
        working = writer.session_factory

        def broken():
            raise ConnectionError("the database went away")

        writer.session_factory = broken
        assert_problem(request_code(v.from_address("192.0.2.8"), poll["id"]), 503, "verification-not-recorded")
        writer.session_factory = working
        assert outbox.messages() == []
        with v.db.session() as session:
            assert session.scalars(select(PublicVerificationCode)).all() == []
        assert request_code(v.from_address("192.0.2.8"), poll["id"]).status_code == 202


def test_an_unwritable_file_gateway_is_503_and_charges_the_phone_nothing(backend, fresh_database_url, tmp_path):
    blocked = tmp_path / "sms-outbox.jsonl"
    blocked.mkdir()  # a folder where the file should be: every append fails
    with committed(fresh_database_url(backend, "voting_file_gateway_down"), sms_gateway=f"file:{blocked}", **WIDE) as v:
        poll = create_poll(v.client)
        answers = at_once(3, lambda i: request_code(v.from_address(f"192.0.2.{i + 1}"), poll["id"], f"1390000{i:04d}"))
        for answer in answers:
            assert_problem(answer, 503, "sms-unavailable")
        with v.db.session() as session:
            rows = session.scalars(select(PublicVerificationCode)).all()
        assert [(r.code_hash, r.sent_at, r.sent_that_day) for r in rows] == [(None, None, 0)] * 3
        withdrawn = sum(d["batch"][poll["id"]].get("codes_withdrawn", 0)
                        for d in audit_details(v.db, "POST /v1/public-polls/{poll_id}/verification-codes"))
        assert withdrawn == 3
        blocked.rmdir()
        assert request_code(v.from_address("192.0.2.9"), poll["id"], "13900000000").status_code == 202
        assert Outbox(blocked).messages()[0]["to"] == "+8613900000000"
