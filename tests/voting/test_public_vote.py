"""Public online vote (网上社会投票): scheduled window, one vote per identity (kept
only as a keyed hash, enforced by the database), up to N choices, per-voter option
order, live turnout with ETag/304, results only after close, rate limits."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import threading

from fastapi.testclient import TestClient
from sqlalchemy import select

from services.voting.models import PublicVote, PublicVoter
from shared.db import Database
from shared.events import BallotClosed, Envelope
from shared.migrations import upgrade

from ._support import Background, assert_problem, committed_voting, count_rows, create_app_for, create_meeting, settings_for

OPTIONS = ["市住房和城乡建设局", "市生态环境局", "市教育局", "市卫生健康委员会", "市交通运输局"]
A, B, C, D, E = OPTIONS
PHONE = "13800138000"


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(value: dt.datetime) -> str:
    return value.isoformat()


def create_poll(client, *, max_choices: int = 2, opens_in: float = -60, closes_in: float = 3600) -> dict:
    meeting = create_meeting(client, members=3)
    resp = client.post("/v1/public-polls", json={
        "meeting_id": meeting["id"], "evaluation_year": 2022, "plan_id": "plan-2022", "batch": 1, "options": OPTIONS,
        "max_choices": max_choices, "opens_at": iso(now() + dt.timedelta(seconds=opens_in)),
        "closes_at": iso(now() + dt.timedelta(seconds=closes_in)),
    })
    assert resp.status_code == 201, resp.text
    return resp.json()


def vote(client, poll_id: str, identity: str, choices: list[str]):
    return client.post(f"/v1/public-polls/{poll_id}/votes", json={"identity": identity, "choices": choices})


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
    # The same identity written differently is the same identity.
    assert_problem(vote(voting.client, poll["id"], " 138 0013 8000", [B]), 409, "identity-already-voted")
    with voting.db.session() as session:
        (voter,) = session.scalars(select(PublicVoter)).all()
        (stored_vote,) = session.scalars(select(PublicVote)).all()
    key = voting.app.state.settings.identity_hash_key
    assert voter.identity_hash == hmac.new(key.encode(), PHONE.encode(), hashlib.sha256).hexdigest()
    assert voter.identity_hash != hashlib.sha256(PHONE.encode()).hexdigest()  # keyed, not a bare hash
    assert stored_vote.choices == [A]
    for row in (voter, stored_vote):
        assert PHONE not in " ".join(str(v) for v in row.__dict__.values())


def test_choice_refusals_record_nothing(voting):
    poll = create_poll(voting.client, max_choices=2)
    body = assert_problem(vote(voting.client, poll["id"], PHONE, [A, B, C]), 422, "too-many-choices")
    assert body["max_choices"] == 2
    assert_problem(vote(voting.client, poll["id"], PHONE, ["市财政局"]), 422, "unknown-option")
    assert_problem(vote(voting.client, poll["id"], PHONE, [A, A]), 422, "validation-error")
    assert_problem(vote(voting.client, poll["id"], PHONE, []), 422, "validation-error")
    assert count_rows(voting.db, PublicVoter) == 0 and count_rows(voting.db, PublicVote) == 0
    assert vote(voting.client, poll["id"], PHONE, [A, B]).status_code == 201  # exactly N


def test_option_order_is_random_per_voter_and_stable(voting):
    poll = create_poll(voting.client)
    orders = []
    for i in range(20):
        resp = voting.client.post(f"/v1/public-polls/{poll['id']}/ballot-papers", json={"identity": f"1380000{i:04d}"})
        assert resp.status_code == 200, resp.text
        orders.append(tuple(resp.json()["options"]))
    assert all(sorted(o) == sorted(OPTIONS) for o in orders)
    assert len(set(orders)) > 1
    again = voting.client.post(f"/v1/public-polls/{poll['id']}/ballot-papers", json={"identity": "13800000000"}).json()
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


def test_bad_schedules_are_refused(voting):
    meeting = create_meeting(voting.client, members=3)
    base = {"meeting_id": meeting["id"], "evaluation_year": 2022, "options": OPTIONS, "max_choices": 2,
            "opens_at": iso(now()), "closes_at": iso(now() - dt.timedelta(hours=1))}
    assert_problem(voting.client.post("/v1/public-polls", json=base), 422, "validation-error")
    assert_problem(voting.client.post("/v1/public-polls", json=base | {"closes_at": iso(now() + dt.timedelta(hours=1)),
                                                                      "max_choices": 6}), 422, "validation-error")
    assert_problem(voting.client.get("/v1/public-polls/nope"), 404, "not-found")


def test_rate_limits_per_identity_and_per_address(backend, fresh_database_url):
    url = fresh_database_url(backend, "voting_public_limits")
    upgrade("voting", url)
    db = Database(url)
    app = create_app_for("voting", settings_for("voting", db.url, public_vote_identity_limit=2, public_vote_ip_limit=5), db)
    try:
        with TestClient(app) as client:
            poll = create_poll(client)
            paper = f"/v1/public-polls/{poll['id']}/ballot-papers"
            assert [client.post(paper, json={"identity": PHONE}).status_code for _ in range(3)] == [200, 200, 429]
            limited = client.post(paper, json={"identity": PHONE})
            assert_problem(limited, 429, "rate-limited")
            assert int(limited.headers["retry-after"]) >= 1
            # Other identities from the same address reach the address limit (5 per minute).
            statuses = [vote(client, poll["id"], f"1390000{i:04d}", [A]).status_code for i in range(3)]
            # The address has used 4 of its 5 requests on ballot papers (limited ones count too).
            assert statuses == [201, 429, 429]
            assert count_rows(db, PublicVoter) == 1
    finally:
        db.dispose()


def test_concurrent_votes_by_one_identity_count_once(backend, fresh_database_url):
    with committed_voting(fresh_database_url(backend, "voting_public_double")) as v:
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
