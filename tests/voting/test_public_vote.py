"""Public online vote (网上社会投票): scheduled window, one vote per verified identity
(a voting pass carries it; kept only as a keyed hash, enforced by the database;
the verification flow itself is in test_verification.py), up to N choices, per-voter option
order, live turnout with ETag/304, results only after close, rate limits;
administration needs voting:admin, the public routes no credential; votes are
written in batches by one writer per process (group commit)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
import uuid

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from services.voting.domain.phones import normalise_mainland_mobile
from services.voting.domain.public import identity_hash
from services.voting.models import (
    AuditEntry,
    PublicPoll,
    PublicVote,
    PublicVoter,
    RateLimitCounter,
)
from services.voting.public.service import VoteIn, record_votes
from services.voting.public.writer import VoteWriter
from services.voting.verification.service import verification
from shared.security.audit import verify
from shared.messaging.events import BallotClosed, Envelope
from shared.web.problems import Problem
from tests.waiting import wait_for as wait_until

from ._support import Background, assert_problem, committed, count_rows, create_meeting

OPTIONS = ["市住房和城乡建设局", "市生态环境局", "市教育局", "市卫生健康委员会", "市交通运输局"]
A, B, C, D, E = OPTIONS
PHONE = "13800138000"


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(value: dt.datetime) -> str:
    return value.isoformat()


def poll_body(meeting_id: str, *, max_choices: int = 2, opens_in: float = -60, closes_in: float = 3600) -> dict:
    return {
        "meeting_id": meeting_id, "evaluation_year": 2022, "plan_id": "plan-2022", "batch": 1, "options": OPTIONS,
        "max_choices": max_choices, "opens_at": iso(now() + dt.timedelta(seconds=opens_in)),
        "closes_at": iso(now() + dt.timedelta(seconds=closes_in)),
    }


def create_poll(client, *, max_choices: int = 2, opens_in: float = -60, closes_in: float = 3600) -> dict:
    meeting = create_meeting(client, members=3, number=f"第{uuid.uuid4().hex[:8]}次会议")
    resp = client.post("/v1/public-polls", json=poll_body(meeting["id"], max_choices=max_choices, opens_in=opens_in,
                                                          closes_in=closes_in))
    assert resp.status_code == 201, resp.text
    return resp.json()


def pass_for(app: FastAPI, poll_id: str, phone: str) -> str:
    """A voting pass as POST …/verifications issues it once the phone's SMS code checks out."""
    token, _ = verification(app).issue_pass(poll_id, normalise_mainland_mobile(phone), now())
    return token


def vote(client, poll_id: str, phone: str, choices: list[str]):
    return client.post(f"/v1/public-polls/{poll_id}/votes", json={"pass": pass_for(client.app, poll_id, phone),
                                                                  "choices": choices})


def ballot_paper(client, poll_id: str, phone: str):
    return client.post(f"/v1/public-polls/{poll_id}/ballot-papers", json={"pass": pass_for(client.app, poll_id, phone)})


def close_now(client, poll_id: str) -> None:
    resp = client.patch(f"/v1/public-polls/{poll_id}/schedule", json={"closes_at": iso(now() - dt.timedelta(seconds=1))})
    assert resp.status_code == 200, resp.text


def test_vote_turnout_and_results_only_after_close(voting):
    poll = create_poll(voting.client, max_choices=2)
    assert poll["status"] == "open" and poll["results"] is None
    assert vote(voting.client, poll["id"], PHONE, [A, B]).status_code == 201
    assert vote(voting.client, poll["id"], "13900139000", [A]).status_code == 201
    during = voting.client.get(f"/v1/public-polls/{poll['id']}").json()
    assert during["votes_cast"] == 2 and during["results"] is None
    assert_problem(voting.client.post(f"/v1/public-polls/{poll['id']}/tally"), 409, "poll-not-closed")

    close_now(voting.client, poll["id"])
    assert_problem(vote(voting.client, poll["id"], "13700137000", [C]), 409, "poll-not-open")
    resp = voting.client.post(f"/v1/public-polls/{poll['id']}/tally")
    assert resp.status_code == 200, resp.text
    tallied = resp.json()
    assert tallied["status"] == "tallied"
    assert {r["code"]: r["votes"] for r in tallied["results"]} == {A: 2, B: 1, C: 0, D: 0, E: 0}
    assert_problem(voting.client.post(f"/v1/public-polls/{poll['id']}/tally"), 409, "poll-tallied")
    (row,) = voting.outbox("ballot.closed")
    event = BallotClosed.from_envelope(Envelope.model_validate_json(row.body))
    assert (event.ballot_kind, event.constituency, event.plan_id, event.evaluation_year) == ("public_vote", "public", "plan-2022", 2022)
    assert event.tally.counts == {A: 2, B: 1, C: 0, D: 0, E: 0} and event.tally.votes_cast == 2


def test_before_the_scheduled_open_votes_are_refused(voting):
    poll = create_poll(voting.client, opens_in=3600, closes_in=7200)
    assert poll["status"] == "scheduled"
    body = assert_problem(vote(voting.client, poll["id"], PHONE, [A]), 409, "poll-not-open")
    assert body["poll_status"] == "scheduled"
    assert count_rows(voting.db, PublicVoter) == 0


def test_one_vote_per_identity_and_only_a_keyed_hash_is_stored(voting):
    poll = create_poll(voting.client)
    assert vote(voting.client, poll["id"], PHONE, [A]).status_code == 201
    # The same number written differently is the same identity.
    assert_problem(vote(voting.client, poll["id"], "+86 138-0013-8000", [B]), 409, "identity-already-voted")
    with voting.db.session() as session:
        (voter,) = session.scalars(select(PublicVoter)).all()
        (stored_vote,) = session.scalars(select(PublicVote)).all()
    key = voting.app.state.settings.identity_hash_key
    assert voter.identity_hash == hmac.new(key.encode(), b"+86" + PHONE.encode(), hashlib.sha256).hexdigest()
    assert voter.identity_hash != hashlib.sha256(PHONE.encode()).hexdigest()  # keyed, not a bare hash
    assert stored_vote.choices == [A]
    for row in (voter, stored_vote):
        assert PHONE not in " ".join(str(v) for v in row.__dict__.values())


def test_choice_refusals_record_nothing(voting):
    poll = create_poll(voting.client, max_choices=2)
    body = assert_problem(vote(voting.client, poll["id"], PHONE, [A, B, C]), 422, "too-many-choices")
    assert body["max_choices"] == 2
    assert_problem(vote(voting.client, poll["id"], PHONE, ["市财政局"]), 422, "unknown-option")
    assert_problem(vote(voting.client, poll["id"], PHONE, [A, A]), 422, "duplicate-choices")
    assert_problem(vote(voting.client, poll["id"], PHONE, []), 422, "validation-error")
    assert count_rows(voting.db, PublicVoter) == 0 and count_rows(voting.db, PublicVote) == 0
    assert vote(voting.client, poll["id"], PHONE, [A, B]).status_code == 201  # exactly N


def test_option_order_is_random_per_voter_and_stable(voting):
    poll = create_poll(voting.client)
    orders = []
    for i in range(20):
        resp = ballot_paper(voting.client, poll["id"], f"1380000{i:04d}")
        assert resp.status_code == 200, resp.text
        orders.append(tuple(resp.json()["options"]))
    assert all(sorted(o) == sorted(OPTIONS) for o in orders)
    assert len(set(orders)) > 1
    again = ballot_paper(voting.client, poll["id"], "13800000000").json()
    assert tuple(again["options"]) == orders[0]


def test_turnout_is_live_with_etag_and_304(voting):
    poll = create_poll(voting.client)
    url = f"/v1/public-polls/{poll['id']}/turnout"
    first = voting.client.get(url)
    assert first.status_code == 200 and first.json()["votes_cast"] == 0
    etag = first.headers["etag"]
    assert "max-age" in first.headers["cache-control"]
    unchanged = voting.client.get(url, headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert vote(voting.client, poll["id"], PHONE, [A]).status_code == 201
    changed = voting.client.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.json()["votes_cast"] == 1
    # Polls are rate-limited per address, and say so on every answer, 304 included.
    again = voting.anonymous.get(url, headers={"If-None-Match": changed.headers["etag"]})
    assert again.status_code == 304 and int(again.headers["x-ratelimit-limit"]) == 600
    # A new schedule shows at once.
    close_now(voting.client, poll["id"])
    assert voting.client.get(url).json()["status"] == "closed"


def test_bad_schedules_are_refused(voting):
    meeting = create_meeting(voting.client, members=3)
    base = {"meeting_id": meeting["id"], "evaluation_year": 2022, "options": OPTIONS, "max_choices": 2,
            "opens_at": iso(now()), "closes_at": iso(now() - dt.timedelta(hours=1))}
    assert_problem(voting.client.post("/v1/public-polls", json=base), 422, "inconsistent-request")
    assert_problem(voting.client.post("/v1/public-polls", json=base | {"closes_at": iso(now() + dt.timedelta(hours=1)),
                                                                      "max_choices": 6}), 422, "inconsistent-request")
    assert_problem(voting.client.get("/v1/public-polls/nope"), 404, "not-found")
    poll = create_poll(voting.client)
    resp = voting.client.patch(f"/v1/public-polls/{poll['id']}/schedule", json={"closes_at": iso(now() - dt.timedelta(hours=1))})
    assert_problem(resp, 422, "inconsistent-request")


def test_options_are_distinct_names_with_their_own_refusal(voting):
    meeting = create_meeting(voting.client, members=3)
    polls_before = count_rows(voting.db, PublicPoll)
    body = poll_body(meeting["id"]) | {"options": [A, B, A]}
    refused = assert_problem(voting.client.post("/v1/public-polls", json=body), 422, "duplicate-options")
    assert refused["options"] == [A]
    # Length and blank names are the schema's to refuse.
    assert_problem(voting.client.post("/v1/public-polls", json=poll_body(meeting["id"]) | {"options": [A, "x" * 201]}),
                   422, "validation-error")
    assert_problem(voting.client.post("/v1/public-polls", json=poll_body(meeting["id"]) | {"options": [A, "   "]}),
                   422, "validation-error")
    assert_problem(voting.client.post("/v1/public-polls", json=poll_body(meeting["id"]) | {"surprise": 1}),
                   422, "validation-error")
    assert count_rows(voting.db, PublicPoll) == polls_before


# --- credentials ---------------------------------------------------------------------


def test_administration_needs_voting_admin(voting):
    poll = create_poll(voting.client, closes_in=3600)
    meeting_id = poll["meeting_id"]
    polls_before = count_rows(voting.db, PublicPoll)
    admin_calls = [
        ("post", "/v1/public-polls", poll_body(meeting_id)),
        ("patch", f"/v1/public-polls/{poll['id']}/schedule", {"closes_at": iso(now() - dt.timedelta(seconds=1))}),
        ("post", f"/v1/public-polls/{poll['id']}/tally", None),
    ]
    reader = voting.api_key("read")
    caster = voting.api_key("voting:cast")
    for method, url, body in admin_calls:
        resp = voting.anonymous.request(method, url, json=body)
        assert_problem(resp, 401, "unauthenticated")
        assert resp.headers["www-authenticate"].startswith("Bearer")
        for headers in (reader, caster):
            refused = assert_problem(voting.anonymous.request(method, url, json=body, headers=headers), 403, "missing-scope")
            assert refused["required_scope"] == "voting:admin"
    # Nothing changed: no new poll, still open, not tallied.
    assert count_rows(voting.db, PublicPoll) == polls_before
    after = voting.anonymous.get(f"/v1/public-polls/{poll['id']}").json()
    assert after["status"] == "open" and after["closes_at"] == poll["closes_at"] and after["tallied_at"] is None


def test_public_routes_need_no_credential(voting):
    poll = create_poll(voting.client)
    public = voting.anonymous
    assert public.get(f"/v1/public-polls/{poll['id']}").status_code == 200
    turnout = public.get(f"/v1/public-polls/{poll['id']}/turnout")
    assert turnout.status_code == 200 and "etag" in turnout.headers
    paper = ballot_paper(public, poll["id"], PHONE)
    assert paper.status_code == 200 and sorted(paper.json()["options"]) == sorted(OPTIONS)
    cast = vote(public, poll["id"], PHONE, [A])
    assert cast.status_code == 201, cast.text
    assert cast.json() == {"poll_id": poll["id"], "accepted": True}
    # A public route ignores a credential it does not need, even a bad one.
    assert public.get(f"/v1/public-polls/{poll['id']}", headers={"Authorization": "Bearer nonsense"}).status_code == 200


def test_poll_creation_is_idempotent(voting):
    meeting = create_meeting(voting.client, members=3)
    body = poll_body(meeting["id"])
    key = {"Idempotency-Key": "poll-2022-public-1"}
    first = voting.client.post("/v1/public-polls", json=body, headers=key)
    assert first.status_code == 201, first.text
    again = voting.client.post("/v1/public-polls", json=body, headers=key)
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert count_rows(voting.db, PublicPoll, meeting_id=meeting["id"]) == 1
    other = voting.client.post("/v1/public-polls", json=body | {"max_choices": 3}, headers=key)
    assert_problem(other, 422, "idempotency-key-reused")
    assert count_rows(voting.db, PublicPoll, meeting_id=meeting["id"]) == 1
    # Without a key, each POST creates.
    assert voting.client.post("/v1/public-polls", json=body).status_code == 201
    assert count_rows(voting.db, PublicPoll, meeting_id=meeting["id"]) == 2


# --- an app on a database that really commits ------------------------------------------


def rate_headers(resp) -> tuple[int, int, int]:
    return tuple(int(resp.headers[f"x-ratelimit-{name}"]) for name in ("limit", "remaining", "reset"))


def test_rate_limits_per_identity(backend, fresh_database_url):
    with committed(fresh_database_url(backend, "voting_public_identity_limit"),
                   rate_limit_public_vote_identity="2/minute", rate_limit_public_vote_ip="100/minute") as v:
        poll = create_poll(v.client)
        public = v.from_address("203.0.113.7")
        first = vote(public, poll["id"], PHONE, [A])
        assert first.status_code == 201
        assert rate_headers(first)[:2] == (2, 1)  # the tighter of the two limits
        assert_problem(vote(public, poll["id"], PHONE, [B]), 409, "identity-already-voted")
        # The same number written differently is the same identity, and its third try is refused.
        limited = assert_problem(vote(public, poll["id"], "１３８ ００１３ ８０００", [B]), 429, "rate-limited")
        assert limited["limit"] == "public_vote_identity"
        resp = vote(public, poll["id"], PHONE, [B])
        assert resp.status_code == 429
        assert int(resp.headers["retry-after"]) >= 1
        assert rate_headers(resp)[:2] == (2, 0) and rate_headers(resp)[2] >= 1
        # Another identity from the same address still votes.
        assert vote(public, poll["id"], "13900139000", [B]).status_code == 201
        # The limiter counts the identity's keyed hash, never the identity itself, in the database
        # (so every replica and worker shares the count).
        with v.db.session() as session:
            keys = " ".join(session.scalars(select(RateLimitCounter.key)))
        assert PHONE not in keys and "13900139000" not in keys
        assert identity_hash(v.app.state.settings.identity_hash_key, "+86" + PHONE) in keys
        assert count_rows(v.db, PublicVoter) == 2 and count_rows(v.db, PublicVote) == 2


def test_rate_limits_per_address(backend, fresh_database_url):
    with committed(fresh_database_url(backend, "voting_public_ip_limit"),
                   rate_limit_public_vote_identity="10/minute", rate_limit_public_vote_ip="3/minute") as v:
        poll = create_poll(v.client)
        crowded = v.from_address("198.51.100.1")
        statuses = [vote(crowded, poll["id"], f"1390000{i:04d}", [A]).status_code for i in range(3)]
        assert statuses == [201, 201, 201]
        limited = vote(crowded, poll["id"], "13900009999", [A])
        body = assert_problem(limited, 429, "rate-limited")
        assert body["limit"] == "public_vote_ip"
        assert int(limited.headers["retry-after"]) >= 1 and rate_headers(limited)[:2] == (3, 0)
        # Another address is counted on its own.
        assert vote(v.from_address("198.51.100.2"), poll["id"], "13900009999", [A]).status_code == 201
        assert count_rows(v.db, PublicVoter) == 4


def test_public_reads_are_limited_per_address(backend, fresh_database_url):
    with committed(fresh_database_url(backend, "voting_public_read_limit"), rate_limit_public_read="2/minute") as v:
        poll = create_poll(v.client)
        reader = v.from_address("192.0.2.1")
        url = f"/v1/public-polls/{poll['id']}/turnout"
        assert [reader.get(url).status_code for _ in range(2)] == [200, 200]
        limited = reader.get(url)
        assert_problem(limited, 429, "rate-limited")
        assert int(limited.headers["retry-after"]) >= 1
        assert ballot_paper(reader, poll["id"], PHONE).status_code == 429
        assert v.from_address("192.0.2.2").get(url).status_code == 200


# --- concurrency and the batching writer ---------------------------------------------------


def test_concurrent_votes_by_one_identity_count_once(backend, fresh_database_url):
    with committed(fresh_database_url(backend, "voting_public_double")) as v:
        poll = create_poll(v.client)
        for i in range(5):
            identity = f"1370000{i:04d}"
            barrier = threading.Barrier(2)

            def send(choice: str, identity: str = identity, barrier: threading.Barrier = barrier) -> int:
                barrier.wait(10)
                return vote(v.client, poll["id"], identity, [choice]).status_code

            requests = [Background(send, A), Background(send, B)]
            for r in requests:
                r.start()
            assert sorted(r.outcome() for r in requests) == [201, 409]
        assert count_rows(v.db, PublicVoter, poll_id=poll["id"]) == 5
        assert count_rows(v.db, PublicVote, poll_id=poll["id"]) == 5


def test_concurrent_votes_are_all_counted_and_audited_per_batch(backend, fresh_database_url):
    with committed(fresh_database_url(backend, "voting_public_many")) as v:
        poll = create_poll(v.client, max_choices=2)
        clients, per_client = 20, 10

        def send(c: int) -> list[int]:
            public = v.from_address(f"10.0.0.{c}")
            return [vote(public, poll["id"], f"13{c:02d}{n:07d}", [A, C] if n % 2 else [B]).status_code
                    for n in range(per_client)]

        senders = [Background(send, c) for c in range(clients)]
        for s in senders:
            s.start()
        assert all(status == 201 for s in senders for status in s.outcome())
        total = clients * per_client
        assert count_rows(v.db, PublicVoter, poll_id=poll["id"]) == total
        assert count_rows(v.db, PublicVote, poll_id=poll["id"]) == total
        assert v.client.get(f"/v1/public-polls/{poll['id']}/turnout").json()["votes_cast"] == total

        with v.db.session() as session:
            vote_ids = set(session.scalars(select(PublicVote.id).where(PublicVote.poll_id == poll["id"])))
            hashes = set(session.scalars(select(PublicVoter.identity_hash)))
            entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "POST /v1/public-polls/{poll_id}/votes")).all()
            assert verify(session, AuditEntry).intact
        audited = [json.loads(e.detail)["batch"][poll["id"]] for e in entries]
        assert sum(b["accepted"] for b in audited) == total and len(entries) <= total
        assert {i for b in audited for i in b["vote_ids"]} == vote_ids
        for entry in entries:  # neither who voted nor what they chose
            assert not any(h in entry.detail for h in hashes) and not any(o in entry.detail for o in OPTIONS)

        close_now(v.client, poll["id"])
        tallied = v.client.post(f"/v1/public-polls/{poll['id']}/tally").json()
        assert {r["code"]: r["votes"] for r in tallied["results"]} == {A: total // 2, B: total // 2, C: total // 2, D: 0, E: 0}


class GatedWrite:
    """record_votes, holding the first batch until released (so the next ones queue
    up behind it), and failing after writing the batches numbered in `fail`."""

    def __init__(self, fail: tuple[int, ...] = ()) -> None:
        self.fail = fail
        self.sizes: list[int] = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, session, votes):
        self.sizes.append(len(votes))
        if len(self.sizes) == 1:
            self.entered.set()
            assert self.release.wait(30), "the test never released the first batch"
        outcomes = record_votes(session, votes)
        if len(self.sizes) in self.fail:
            raise RuntimeError("the disk is full")
        return outcomes


def vote_in(poll_id: str, identity: str, choices: list[str], key: str = "dev-only-identity-hash-key") -> VoteIn:
    return VoteIn(poll_id, identity_hash(key, normalise_mainland_mobile(identity)), choices, now())


def problem_of(future) -> Problem:
    error = future.exception(30)
    assert isinstance(error, Problem), error
    return error


def test_a_duplicate_identity_in_one_batch_is_accepted_once(backend, fresh_database_url):
    with committed(fresh_database_url(backend, "voting_public_batch_dup")) as v:
        poll = create_poll(v.client)
        gate = GatedWrite()
        writer = VoteWriter(v.db, write=gate)
        try:
            warm_up = writer.submit(vote_in(poll["id"], "13000000000", [A]))
            assert gate.entered.wait(30)
            same = [writer.submit(vote_in(poll["id"], PHONE, [choice])) for choice in (A, B, C)]
            other = writer.submit(vote_in(poll["id"], "13900139000", [D]))
            gate.release.set()
            assert warm_up.result(30) is None and other.result(30) is None
            assert gate.sizes == [1, 4]  # the three votes of one identity were in one batch
            outcomes = [f.exception(30) for f in same]
            assert outcomes[0] is None
            assert [p.slug for p in outcomes[1:]] == ["identity-already-voted"] * 2
        finally:
            writer.close()
        with v.db.session() as session:
            assert sorted(session.scalars(select(PublicVote.choices)).all()) == [[A], [A], [D]]
        assert count_rows(v.db, PublicVoter) == 3


def test_record_votes_refuses_identities_that_voted_in_an_earlier_batch(backend, fresh_database_url):
    with committed(fresh_database_url(backend, "voting_public_batch_again")) as v:
        poll = create_poll(v.client)
        with v.db.session() as session:
            assert record_votes(session, [vote_in(poll["id"], PHONE, [A])]) == [None]
        with v.db.session() as session:
            again, fresh, late = record_votes(session, [
                vote_in(poll["id"], PHONE, [B]),
                vote_in(poll["id"], "13900139000", [B]),
                VoteIn(poll["id"], identity_hash("dev-only-identity-hash-key", "+8613700137000"), [C],
                       now() + dt.timedelta(hours=2)),  # arrived after the close
            ])
        assert again.slug == "identity-already-voted" and fresh is None
        assert late.slug == "poll-not-open" and late.extensions["poll_status"] == "closed"
        assert count_rows(v.db, PublicVoter) == 2 and count_rows(v.db, PublicVote) == 2


def test_a_failing_batch_records_nothing_and_answers_every_vote_in_it(backend, fresh_database_url):
    with committed(fresh_database_url(backend, "voting_public_batch_fail")) as v:
        poll = create_poll(v.client)
        gate = GatedWrite(fail=(2,))
        v.app.state.public_vote_writer = writer = VoteWriter(v.db, write=gate)
        public = v.from_address("10.1.0.1")
        first = Background(vote, public, poll["id"], "13000000000", [A])
        first.start()
        assert gate.entered.wait(30)
        waiting = [Background(vote, public, poll["id"], f"1390000{i:04d}", [B]) for i in range(5)]
        for w in waiting:
            w.start()
        wait_until(lambda: writer.waiting == 5, "five votes queued behind the first batch")
        gate.release.set()
        assert first.outcome().status_code == 201
        for w in waiting:
            assert_problem(w.outcome(), 503, "vote-not-recorded")
        assert gate.sizes == [1, 5]
        assert count_rows(v.db, PublicVoter) == 1 and count_rows(v.db, PublicVote) == 1
        entries = count_rows(v.db, AuditEntry, action="POST /v1/public-polls/{poll_id}/votes")
        # The writer keeps going: the refused votes can simply be sent again.
        assert [vote(public, poll["id"], f"1390000{i:04d}", [B]).status_code for i in range(5)] == [201] * 5
        assert count_rows(v.db, PublicVoter) == 6 and count_rows(v.db, PublicVote) == 6
        assert count_rows(v.db, AuditEntry, action="POST /v1/public-polls/{poll_id}/votes") > entries


def test_close_writes_every_queued_vote_and_then_takes_none(backend, fresh_database_url):
    with committed(fresh_database_url(backend, "voting_public_close")) as v:
        poll = create_poll(v.client)
        gate = GatedWrite()
        writer = VoteWriter(v.db, write=gate, max_queue=3)
        futures = [writer.submit(vote_in(poll["id"], "13000000000", [A]))]
        assert gate.entered.wait(30)
        futures += [writer.submit(vote_in(poll["id"], f"1390000{i:04d}", [B])) for i in range(3)]
        # The queue is bounded: a vote beyond it is refused at once, never dropped silently.
        with pytest.raises(Problem) as full:
            writer.submit(vote_in(poll["id"], "13800000001", [A]))
        assert (full.value.status, full.value.slug) == (503, "vote-queue-full")
        closing = Background(writer.close)
        closing.start()
        wait_until(lambda: writer._closed, "the writer to stop taking votes")
        with pytest.raises(Problem) as stopped:
            writer.submit(vote_in(poll["id"], "13800000002", [A]))
        assert (stopped.value.status, stopped.value.slug) == (503, "vote-writer-stopped")
        gate.release.set()
        closing.outcome()
        assert [f.result(0) for f in futures] == [None] * 4
        assert count_rows(v.db, PublicVoter) == 4 and count_rows(v.db, PublicVote) == 4


def test_shutdown_flushes_the_writer(backend, fresh_database_url):
    url = fresh_database_url(backend, "voting_public_shutdown")
    with committed(url) as v:
        poll = create_poll(v.client)
        assert vote(v.client, poll["id"], PHONE, [A]).status_code == 201
        writer = v.app.state.public_vote_writer
        futures = [writer.submit(vote_in(poll["id"], f"1390000{i:04d}", [B])) for i in range(20)]
    # The app has stopped: every queued vote was written before it did.
    assert all(f.result(0) is None for f in futures)
    assert not hasattr(v.app.state, "public_vote_writer")
    assert count_rows(v.db, PublicVoter) == 21
