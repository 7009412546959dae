"""Verified identity for the public vote: SMS one-time codes through the file gateway
(request → verify → pass → vote), every refusal at its boundary, phones normalised to
one voter, limits per address across replicas, forwarding headers only from trusted
proxies. The ID-token path is in test_oidc.py, the HTTP SMS gateway in test_sms_gateway.py."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
import threading
from pathlib import Path

import pytest
from sqlalchemy import select, update

from services.voting.domain.phones import normalise_mainland_mobile
from services.voting.models import PublicVerificationCode, PublicVote, PublicVoter, RateLimitCounter
from services.voting.verification.service import verification

from ._support import Background, assert_problem, committed, count_rows, create_meeting

OPTIONS = ["市住房和城乡建设局", "市生态环境局", "市教育局"]
A, B, C = OPTIONS
PHONE = "13900002222"
E164 = "+8613900002222"
# One number, written the ways people type it.
SPELLINGS = [
    "13900002222", "+8613900002222", "+86 139 0000 2222", "0086 139-0000-2222", "139-0000-2222",
    "１３９００００２２２２", "＋８６ １３９ ００００ ２２２２", "139\u30000000\u30002222",
]


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Outbox:
    """The file SMS gateway's lines, as a person trying the system reads them."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def messages(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines()]

    def last_code(self, to: str = E164) -> str:
        texts = [m["text"] for m in self.messages() if m["to"] == to]
        assert texts, f"no SMS to {to}"
        return re.search(r"验证码为 (\d{6})", texts[-1]).group(1)


def with_settings(app, **changes) -> None:
    """Configure the app before its verification parts are first made (they are made on first use)."""
    app.state.settings = app.state.settings.model_copy(update=changes)
    app.state.__dict__.get("_state", {}).pop("verification", None)


@pytest.fixture
def outbox(tmp_path) -> Outbox:
    return Outbox(tmp_path / "sms-outbox.jsonl")


@pytest.fixture
def sms(voting, outbox):
    with_settings(voting.app, sms_gateway=f"file:{outbox.path}")
    return voting


def create_poll(client, *, opens_in: float = -60) -> dict:
    meeting = create_meeting(client, members=3, number=f"第{now().timestamp():.6f}次会议")
    resp = client.post("/v1/public-polls", json={
        "meeting_id": meeting["id"], "evaluation_year": 2022, "options": OPTIONS, "max_choices": 1,
        "opens_at": (now() + dt.timedelta(seconds=opens_in)).isoformat(),
        "closes_at": (now() + dt.timedelta(hours=1)).isoformat()})
    assert resp.status_code == 201, resp.text
    return resp.json()


def request_code(client, poll_id: str, phone: str = PHONE, **kw):
    return client.post(f"/v1/public-polls/{poll_id}/verification-codes", json={"phone": phone}, **kw)


def verify(client, poll_id: str, body: dict, **kw):
    return client.post(f"/v1/public-polls/{poll_id}/verifications", json=body, **kw)


def vote(client, poll_id: str, token: str | None, choices: list[str] = [A]):  # noqa: B006
    body = {"choices": choices} | ({"pass": token} if token is not None else {})
    return client.post(f"/v1/public-polls/{poll_id}/votes", json=body)


def verified_pass(client, outbox: Outbox, poll_id: str, phone: str = PHONE) -> str:
    assert request_code(client, poll_id, phone).status_code == 202
    resp = verify(client, poll_id, {"phone": phone, "code": outbox.last_code(normalise_mainland_mobile(phone))})
    assert resp.status_code == 201, resp.text
    return resp.json()["pass"]


def test_three_steps_code_verification_vote_and_logs_show_only_masked_phones(sms, outbox, caplog):
    caplog.set_level(logging.INFO)
    client = sms.anonymous
    poll = create_poll(sms.client)
    sent = request_code(client, poll["id"])
    assert sent.status_code == 202, sent.text
    assert sent.json() == {"poll_id": poll["id"], "expires_in_seconds": 300, "resend_after_seconds": 60}
    (message,) = outbox.messages()
    assert message["to"] == E164 and "验证码" in message["text"] and message["sent_at"]
    code = outbox.last_code()
    issued = verify(client, poll["id"], {"phone": "+86 139 0000 2222", "code": code})
    assert issued.status_code == 201, issued.text
    body = issued.json()
    assert set(body) == {"pass", "expires_at"}
    expires_at = dt.datetime.fromisoformat(body["expires_at"])
    assert dt.timedelta(minutes=9) < expires_at - now() <= dt.timedelta(minutes=10)
    assert vote(client, poll["id"], body["pass"]).status_code == 201
    # Nothing stored or logged shows the phone or the code.
    with sms.db.session() as session:
        (row,) = session.scalars(select(PublicVerificationCode)).all()
        (voter,) = session.scalars(select(PublicVoter)).all()
    stored = " ".join(str(v) for r in (row, voter) for v in r.__dict__.values())
    assert PHONE not in stored and code not in stored
    assert row.phone_hash != voter.identity_hash  # code rows cannot be joined to voter rows
    assert row.code_hash is None  # used
    assert "139****2222" in caplog.text and PHONE not in caplog.text and code not in caplog.text


def test_a_code_is_good_once(sms, outbox):
    poll = create_poll(sms.client)
    assert request_code(sms.anonymous, poll["id"]).status_code == 202
    code = outbox.last_code()
    assert verify(sms.anonymous, poll["id"], {"phone": PHONE, "code": code}).status_code == 201
    assert_problem(verify(sms.anonymous, poll["id"], {"phone": PHONE, "code": code}), 401, "code-expired")


def test_an_expired_code_is_refused(sms, outbox):
    poll = create_poll(sms.client)
    assert request_code(sms.anonymous, poll["id"]).status_code == 202
    with sms.db.session() as session:  # five minutes pass
        session.execute(update(PublicVerificationCode).values(code_expires_at=now() - dt.timedelta(seconds=1)))
        session.commit()
    assert_problem(verify(sms.anonymous, poll["id"], {"phone": PHONE, "code": outbox.last_code()}), 401, "code-expired")
    assert_problem(verify(sms.anonymous, poll["id"], {"phone": "13900003333", "code": "123456"}), 401, "code-expired")


def test_votes_without_a_valid_pass_are_refused_and_record_nothing(sms, outbox):
    poll, other = create_poll(sms.client), create_poll(sms.client)
    client = sms.anonymous
    assert vote(client, poll["id"], None).json()["reason"] == "missing"
    assert_problem(vote(client, poll["id"], None), 401, "verification-required")
    assert assert_problem(vote(client, poll["id"], "vp1.made-up"), 401, "verification-required")["reason"] == "invalid"
    genuine = verified_pass(client, outbox, poll["id"])
    tampered = genuine[:-3] + ("AAA" if genuine[-3:] != "AAA" else "BBB")
    assert assert_problem(vote(client, poll["id"], tampered), 401, "verification-required")["reason"] == "invalid"
    # A pass from another poll.
    assert assert_problem(vote(client, other["id"], genuine), 401, "verification-required")["reason"] == "other-poll"
    # An expired pass: issued eleven minutes ago with the ten-minute lifetime.
    old, _ = verification(sms.app).issue_pass(poll["id"], E164, now() - dt.timedelta(minutes=11))
    assert assert_problem(vote(client, poll["id"], old), 401, "verification-required")["reason"] == "expired"
    # The old identity field is not a pass.
    assert_problem(client.post(f"/v1/public-polls/{poll['id']}/votes", json={"identity": PHONE, "choices": [A]}),
                   422, "validation-error")
    assert count_rows(sms.db, PublicVoter) == 0 and count_rows(sms.db, PublicVote) == 0
    # The genuine pass still votes, once.
    assert vote(client, poll["id"], genuine).status_code == 201
    assert_problem(vote(client, poll["id"], genuine, [B]), 409, "identity-already-voted")
    assert count_rows(sms.db, PublicVoter) == 1 and count_rows(sms.db, PublicVote) == 1
    # The ballot paper needs the pass too.
    assert_problem(client.post(f"/v1/public-polls/{poll['id']}/ballot-papers", json={}), 401, "verification-required")
    paper = client.post(f"/v1/public-polls/{poll['id']}/ballot-papers", json={"pass": genuine})
    assert paper.status_code == 200 and sorted(paper.json()["options"]) == sorted(OPTIONS)


def test_five_wrong_codes_lock_the_phone_for_that_poll(sms, outbox):
    poll, other = create_poll(sms.client), create_poll(sms.client)
    client = sms.anonymous
    assert request_code(client, poll["id"]).status_code == 202
    code = outbox.last_code()
    wrong = f"{(int(code) + 1) % 10 ** 6:06d}"
    for left in (4, 3, 2, 1):
        body = assert_problem(verify(client, poll["id"], {"phone": PHONE, "code": wrong}), 401, "wrong-code")
        assert body["attempts_left"] == left
    locked = verify(client, poll["id"], {"phone": PHONE, "code": wrong})
    body = assert_problem(locked, 429, "verification-locked")
    assert 890 <= int(locked.headers["retry-after"]) <= 900 and body["retry_after"] == int(locked.headers["retry-after"])
    # Now even the right code, and a new code, are refused for this poll.
    assert_problem(verify(client, poll["id"], {"phone": PHONE, "code": code}), 429, "verification-locked")
    assert_problem(request_code(client, poll["id"]), 429, "verification-locked")
    assert len(outbox.messages()) == 1
    # Another poll, and another phone, are not locked.
    assert request_code(client, other["id"]).status_code == 202
    assert verified_pass(client, outbox, poll["id"], "13900003333")


def test_the_lock_ends_after_its_time(sms, outbox):
    with_settings(sms.app, sms_gateway=f"file:{outbox.path}", verification_lock_seconds=1, verification_code_resend_seconds=0,
                  verification_max_wrong_codes=2)
    poll = create_poll(sms.client)
    assert request_code(sms.anonymous, poll["id"]).status_code == 202
    wrong = f"{(int(outbox.last_code()) + 1) % 10 ** 6:06d}"
    assert_problem(verify(sms.anonymous, poll["id"], {"phone": PHONE, "code": wrong}), 401, "wrong-code")
    assert_problem(verify(sms.anonymous, poll["id"], {"phone": PHONE, "code": wrong}), 429, "verification-locked")
    deadline = now() + dt.timedelta(seconds=30)
    while request_code(sms.anonymous, poll["id"]).status_code != 202:
        assert now() < deadline, "the lock never ended"
        time.sleep(0.25)  # each try counts against the per-address code limit
    assert verify(sms.anonymous, poll["id"], {"phone": PHONE, "code": outbox.last_code()}).status_code == 201


def test_a_new_code_only_after_the_resend_cooldown(sms, outbox):
    poll = create_poll(sms.client)
    assert request_code(sms.anonymous, poll["id"]).status_code == 202
    again = request_code(sms.anonymous, poll["id"], "+86 13900002222")
    body = assert_problem(again, 429, "code-resend-too-soon")
    assert 1 <= int(again.headers["retry-after"]) <= 60 and body["retry_after"] == int(again.headers["retry-after"])
    assert len(outbox.messages()) == 1  # no second SMS
    # The first code still works.
    assert verify(sms.anonymous, poll["id"], {"phone": PHONE, "code": outbox.last_code()}).status_code == 201


def test_codes_per_phone_per_day(sms, outbox):
    with_settings(sms.app, sms_gateway=f"file:{outbox.path}", verification_code_resend_seconds=0,
                  verification_codes_per_phone_per_day=2)
    poll = create_poll(sms.client)
    assert [request_code(sms.anonymous, poll["id"]).status_code for _ in range(2)] == [202, 202]
    limited = request_code(sms.anonymous, poll["id"])
    assert_problem(limited, 429, "daily-code-limit")
    assert int(limited.headers["retry-after"]) <= 24 * 3600
    assert len(outbox.messages()) == 2
    # The latest code is the one that works.
    assert verify(sms.anonymous, poll["id"], {"phone": PHONE, "code": outbox.last_code()}).status_code == 201


def test_every_spelling_of_one_number_is_one_voter(sms, outbox):
    with_settings(sms.app, sms_gateway=f"file:{outbox.path}", verification_code_resend_seconds=0)
    poll = create_poll(sms.client)
    passes = [verified_pass(sms.anonymous, outbox, poll["id"], spelling) for spelling in SPELLINGS]
    assert {m["to"] for m in outbox.messages()} == {E164}
    assert count_rows(sms.db, PublicVerificationCode) == 1
    statuses = [vote(sms.anonymous, poll["id"], token).status_code for token in passes]
    assert statuses == [201] + [409] * (len(SPELLINGS) - 1)
    assert count_rows(sms.db, PublicVoter) == 1 and count_rows(sms.db, PublicVote) == 1


@pytest.mark.parametrize("typed", [
    "139\u200b00002222",  # zero-width space
    "\u200f13900002222",  # right-to-left mark
    "139\u202e00002222",  # right-to-left override
    "1390000222O",  # a letter O for a zero
    "139ab002222",
    "+1 139 0000 2222",  # not +86
    "86 13900002222",  # no + or 00
    "12900002222",  # not a mobile range
    "1390000222",  # ten digits
    "139000022222",  # twelve
    "010-12345678",  # a landline
    "١٣٩٠٠٠٠٢٢٢٢",  # Arabic-Indic digits
    "(139) 0000 2222",
])
def test_phones_that_are_not_plain_mainland_mobiles_are_refused_naming_the_field(sms, outbox, typed):
    poll = create_poll(sms.client)
    for resp in (request_code(sms.anonymous, poll["id"], typed),
                 verify(sms.anonymous, poll["id"], {"phone": typed, "code": "123456"})):
        body = assert_problem(resp, 422, "validation-error")
        assert [e["field"] for e in body["errors"]] == ["phone"], body
    assert outbox.messages() == [] and count_rows(sms.db, PublicVerificationCode) == 0


def test_the_code_request_answers_alike_whether_or_not_the_number_voted(sms, outbox):
    with_settings(sms.app, sms_gateway=f"file:{outbox.path}", verification_code_resend_seconds=0)
    poll = create_poll(sms.client)
    voted = verified_pass(sms.anonymous, outbox, poll["id"])
    assert vote(sms.anonymous, poll["id"], voted).status_code == 201
    answers = [request_code(sms.anonymous, poll["id"], phone) for phone in (PHONE, "13900004444")]
    assert [a.status_code for a in answers] == [202, 202]
    assert answers[0].json() == answers[1].json()


def test_verification_methods_that_are_off(voting):
    poll = create_poll(voting.client)
    body = assert_problem(request_code(voting.anonymous, poll["id"]), 409, "verification-method-off")
    assert body["method"] == "sms"
    body = assert_problem(verify(voting.anonymous, poll["id"], {"id_token": "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"}), 409,
                          "verification-method-off")
    assert body["method"] == "oidc"
    assert_problem(verify(voting.anonymous, poll["id"], {"phone": PHONE}), 422, "inconsistent-request")
    assert_problem(verify(voting.anonymous, poll["id"], {"phone": PHONE, "code": "123456", "id_token": "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"}),
                   422, "inconsistent-request")
    assert_problem(verify(voting.anonymous, poll["id"], {"phone": PHONE, "code": "12345x"}), 422, "validation-error")


def test_a_poll_not_open_sends_no_code(sms, outbox):
    poll = create_poll(sms.client, opens_in=3600)
    assert_problem(request_code(sms.anonymous, poll["id"]), 409, "poll-not-open")
    assert_problem(request_code(sms.anonymous, "no-such-poll"), 404, "not-found")
    assert outbox.messages() == []


# --- limits across replicas, and whose address it is ------------------------------------


def counted_addresses(db) -> set[str]:
    """The client addresses the code-request limit has counted (in the database, shared by replicas)."""
    with db.session() as session:
        return set(session.scalars(select(RateLimitCounter.key).where(RateLimitCounter.name == "verification_code_ip")))


def test_the_address_limit_holds_across_two_replicas(backend, fresh_database_url, tmp_path):
    outbox = Outbox(tmp_path / "sms.jsonl")
    settings = {"sms_gateway": f"file:{outbox.path}", "rate_limit_verification_code_ip": "3/minute"}
    url = fresh_database_url(backend, "voting_verification_replicas")
    with committed(url, **settings) as one, committed(url, **settings) as two:
        poll = create_poll(one.client)
        replicas = [one.from_address("198.51.100.9"), two.from_address("198.51.100.9")]
        statuses = [request_code(replicas[i % 2], poll["id"], f"1390000{i:04d}").status_code for i in range(4)]
        assert statuses == [202, 202, 202, 429]
        assert len(outbox.messages()) == 3
        assert request_code(two.from_address("198.51.100.10"), poll["id"], "13900009999").status_code == 202
        assert counted_addresses(one.db) == {"198.51.100.9", "198.51.100.10"}


def test_forwarded_for_from_an_untrusted_peer_is_ignored(backend, fresh_database_url, tmp_path):
    outbox = Outbox(tmp_path / "sms.jsonl")
    with committed(fresh_database_url(backend, "voting_forwarded"), sms_gateway=f"file:{outbox.path}",
                   rate_limit_verification_code_ip="2/minute") as v:
        poll = create_poll(v.client)
        loopback = v.from_address("127.0.0.1")
        sent = [request_code(loopback, poll["id"], f"1390000{i:04d}",
                             headers={"X-Forwarded-For": f"203.0.113.{i}", "Forwarded": f"for=203.0.113.{i}"}).status_code
                for i in range(3)]
        assert sent == [202, 202, 429]  # all counted against 127.0.0.1


def test_forwarded_for_from_a_trusted_proxy_names_the_client(backend, fresh_database_url, tmp_path):
    outbox = Outbox(tmp_path / "sms.jsonl")
    with committed(fresh_database_url(backend, "voting_trusted_proxy"), sms_gateway=f"file:{outbox.path}",
                   rate_limit_verification_code_ip="1/minute", trusted_proxies="10.0.0.0/8") as v:
        poll = create_poll(v.client)
        proxy = v.from_address("10.1.2.3")
        # The client's own X-Forwarded-For claim on the left is not what the proxy saw: the rightmost untrusted is.
        first = request_code(proxy, poll["id"], "13900000001", headers={"X-Forwarded-For": "192.0.2.1, 203.0.113.5, 10.9.9.9"})
        same_client = request_code(proxy, poll["id"], "13900000002", headers={"X-Forwarded-For": "192.0.2.2, 203.0.113.5"})
        other = request_code(proxy, poll["id"], "13900000003", headers={"Forwarded": 'for="[2001:db8::7]:4711";proto=https'})
        assert (first.status_code, same_client.status_code, other.status_code) == (202, 429, 202)
        assert counted_addresses(v.db) == {"203.0.113.5", "2001:db8::7"}


def test_twenty_concurrent_uses_of_one_pass_record_one_vote(backend, fresh_database_url, tmp_path):
    outbox = Outbox(tmp_path / "sms.jsonl")
    # The per-identity limit raised out of the way: the database alone decides.
    with committed(fresh_database_url(backend, "voting_pass_twenty"), sms_gateway=f"file:{outbox.path}",
                   rate_limit_public_vote_identity="100/minute") as v:
        poll = create_poll(v.client)
        token = verified_pass(v.from_address("192.0.2.50"), outbox, poll["id"])
        barrier = threading.Barrier(20)

        def use(i: int) -> int:
            barrier.wait(30)
            return vote(v.from_address(f"192.0.2.{i + 1}"), poll["id"], token, [OPTIONS[i % 3]]).status_code

        uses = [Background(use, i) for i in range(20)]
        for u in uses:
            u.start()
        assert sorted(u.outcome(60) for u in uses) == [201] + [409] * 19
        assert count_rows(v.db, PublicVoter, poll_id=poll["id"]) == 1
        assert count_rows(v.db, PublicVote, poll_id=poll["id"]) == 1
