"""Satisfaction ballots over HTTP: open under quorum, cast, refuse, close, tally,
announce ballot.closed through the outbox, and keep the vote secret."""

from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import inspect, select, text

from services.voting.models import BallotParticipation, BallotVote, OutboxMessage
from shared.messaging.events import BallotClosed, Envelope

from ._support import (
    Background,
    assert_problem,
    cast,
    check_in,
    committed_voting,
    count_rows,
    create_ballot,
    create_meeting,
    gate_commits,
    get_ballot,
    member_headers,
    member_ids,
    open_ballot,
    open_meeting_ballot,
)

DEPARTMENT = "市住房和城乡建设局"


def vote_rows(voting, ballot_id: str) -> int:
    return count_rows(voting.db, voting.models.BallotVote, ballot_id=ballot_id)


def participation_rows(voting, ballot_id: str) -> int:
    return count_rows(voting.db, voting.models.BallotParticipation, ballot_id=ballot_id)


# --- create and open -------------------------------------------------------------


def test_create_satisfaction_ballot_is_a_draft(voting):
    meeting = create_meeting(voting.client, members=5)
    resp = voting.client.post(
        f"/v1/meetings/{meeting['id']}/ballots", json={"department": DEPARTMENT, "evaluation_year": 2021}
    )
    assert resp.status_code == 201, resp.text
    ballot = resp.json()
    assert ballot["status"] == "draft"
    assert ballot["kind"] == "satisfaction"
    assert ballot["meeting_id"] == meeting["id"]
    assert ballot["department"] == DEPARTMENT
    assert ballot["evaluation_year"] == 2021
    assert ballot["vote_round"] == 1
    assert ballot["secret"] is True
    assert ballot["members_total"] == 5
    assert ballot["votes_cast"] == 0
    assert ballot["results"] is None
    assert ballot["opened_at"] is None and ballot["closed_at"] is None
    assert DEPARTMENT in ballot["title"] and "满意度" in ballot["title"]
    assert get_ballot(voting.client, ballot["id"]) == ballot


def test_create_ballot_without_department_names_the_field(voting):
    meeting = create_meeting(voting.client)
    resp = voting.client.post(f"/v1/meetings/{meeting['id']}/ballots", json={"evaluation_year": 2021})
    body = assert_problem(resp, 422, "validation-error")
    assert [e["field"] for e in body["errors"]] == ["department"]
    assert count_rows(voting.db, voting.models.Ballot) == 0


def test_unknown_ballot_is_404(voting):
    for resp in (
        voting.client.get("/v1/ballots/no-such-ballot"),
        voting.client.post("/v1/ballots/no-such-ballot/open"),
        voting.client.post("/v1/ballots/no-such-ballot/close"),
        cast(voting.client, "no-such-ballot", "m01", "satisfied"),
        voting.client.get("/v1/ballots/no-such-ballot/receipts/abc"),
    ):
        body = assert_problem(resp, 404, "not-found")
        assert body["resource"] == "ballot"


def test_opening_without_quorum_is_refused_and_ballot_stays_draft(voting):
    meeting = create_meeting(voting.client, members=4)
    check_in(voting.client, meeting["id"], member_ids(4)[:2])  # exactly half: not enough
    ballot = create_ballot(voting.client, meeting["id"])
    body = assert_problem(voting.client.post(f"/v1/ballots/{ballot['id']}/open"), 409, "no-quorum")
    assert (body["present"], body["members_total"]) == (2, 4)
    after = get_ballot(voting.client, ballot["id"])
    assert after["status"] == "draft"
    assert after["opened_at"] is None and after["present_at_open"] is None


def test_open_with_quorum(voting):
    meeting = create_meeting(voting.client, members=4)
    check_in(voting.client, meeting["id"], member_ids(4)[:3])
    ballot = create_ballot(voting.client, meeting["id"])
    opened = open_ballot(voting.client, ballot["id"])
    assert opened["status"] == "open"
    assert opened["present_at_open"] == 3
    assert opened["opened_at"] is not None
    assert get_ballot(voting.client, ballot["id"])["status"] == "open"
    # Opening again is a state error, not a second opening.
    assert_problem(voting.client.post(f"/v1/ballots/{ballot['id']}/open"), 409, "ballot-state")
    assert get_ballot(voting.client, ballot["id"])["opened_at"] == opened["opened_at"]


# --- casting ---------------------------------------------------------------------


def test_cast_returns_a_receipt_that_checks_as_counted(voting):
    _, ballot = open_meeting_ballot(voting.client, members=4)
    resp = cast(voting.client, ballot["id"], "m01", "satisfied")
    assert resp.status_code == 201, resp.text
    receipt = resp.json()
    assert receipt["ballot_id"] == ballot["id"]
    code = receipt["receipt_code"]
    assert len(code) >= 12

    check = voting.client.get(f"/v1/ballots/{ballot['id']}/receipts/{code}")
    assert check.status_code == 200
    assert check.json() == {"ballot_id": ballot["id"], "counted": True}
    unknown = voting.client.get(f"/v1/ballots/{ballot['id']}/receipts/not-a-real-receipt")
    assert unknown.status_code == 200
    assert unknown.json() == {"ballot_id": ballot["id"], "counted": False}

    # A receipt of one ballot does not confirm a vote on another.
    other = create_ballot(voting.client, ballot["meeting_id"], department="市教育局")
    assert voting.client.get(f"/v1/ballots/{other['id']}/receipts/{code}").json()["counted"] is False

    # Only the hash of the receipt is stored.
    with voting.db.session() as session:
        hashes = session.scalars(select(voting.models.BallotVote.receipt_hash)).all()
    assert len(hashes) == 1 and code not in hashes[0]


def test_member_voting_twice_is_refused_and_count_unchanged(voting):
    _, ballot = open_meeting_ballot(voting.client, members=4)
    assert cast(voting.client, ballot["id"], "m01", "satisfied").status_code == 201
    body = assert_problem(cast(voting.client, ballot["id"], "m01", "unsatisfied"), 409, "already-voted")
    assert body["member_id"] == "m01"
    assert get_ballot(voting.client, ballot["id"])["votes_cast"] == 1
    assert vote_rows(voting, ballot["id"]) == 1
    assert participation_rows(voting, ballot["id"]) == 1
    # The first choice stands.
    closed = voting.client.post(f"/v1/ballots/{ballot['id']}/close").json()
    assert {r["code"]: r["votes"] for r in closed["results"]} == {"satisfied": 1, "basically_satisfied": 0, "unsatisfied": 0}


def test_vote_on_a_draft_ballot_is_refused(voting):
    meeting = create_meeting(voting.client, members=4)
    check_in(voting.client, meeting["id"], member_ids(4))
    ballot = create_ballot(voting.client, meeting["id"])
    body = assert_problem(cast(voting.client, ballot["id"], "m01", "satisfied"), 409, "ballot-not-open")
    assert body["ballot_status"] == "draft"
    assert get_ballot(voting.client, ballot["id"])["votes_cast"] == 0
    assert vote_rows(voting, ballot["id"]) == 0


def test_vote_on_a_closed_ballot_is_refused(voting):
    _, ballot = open_meeting_ballot(voting.client, members=4)
    assert cast(voting.client, ballot["id"], "m01", "satisfied").status_code == 201
    assert voting.client.post(f"/v1/ballots/{ballot['id']}/close").status_code == 200
    body = assert_problem(cast(voting.client, ballot["id"], "m02", "unsatisfied"), 409, "ballot-not-open")
    assert body["ballot_status"] == "closed"
    after = get_ballot(voting.client, ballot["id"])
    assert after["votes_cast"] == 1
    assert {r["code"]: r["votes"] for r in after["results"]}["unsatisfied"] == 0
    assert vote_rows(voting, ballot["id"]) == 1


def test_non_member_cannot_vote(voting):
    _, ballot = open_meeting_ballot(voting.client, members=4)
    body = assert_problem(cast(voting.client, ballot["id"], "x99", "satisfied"), 403, "not-a-member")
    assert body["member_id"] == "x99"
    assert get_ballot(voting.client, ballot["id"])["votes_cast"] == 0
    assert vote_rows(voting, ballot["id"]) == 0 and participation_rows(voting, ballot["id"]) == 0


def test_member_not_checked_in_cannot_vote(voting):
    _, ballot = open_meeting_ballot(voting.client, members=4, present=3)
    body = assert_problem(cast(voting.client, ballot["id"], "m04", "satisfied"), 403, "not-present")
    assert body["member_id"] == "m04"
    assert get_ballot(voting.client, ballot["id"])["votes_cast"] == 0
    assert vote_rows(voting, ballot["id"]) == 0 and participation_rows(voting, ballot["id"]) == 0


def test_member_who_checked_out_cannot_vote(voting):
    meeting, ballot = open_meeting_ballot(voting.client, members=4)
    resp = voting.client.post(f"/v1/meetings/{meeting['id']}/check-outs", json={"member_ids": ["m02"]})
    assert resp.status_code == 200
    assert_problem(cast(voting.client, ballot["id"], "m02", "satisfied"), 403, "not-present")
    assert vote_rows(voting, ballot["id"]) == 0


@pytest.mark.parametrize("choice", ["very_satisfied", "满意", "", None])
def test_unknown_grade_is_refused_and_nothing_recorded(voting, choice):
    _, ballot = open_meeting_ballot(voting.client, members=4)
    body = assert_problem(cast(voting.client, ballot["id"], "m01", choice), 422, "validation-error")
    assert [e["field"] for e in body["errors"]] == ["choice"]
    assert get_ballot(voting.client, ballot["id"])["votes_cast"] == 0
    assert vote_rows(voting, ballot["id"]) == 0 and participation_rows(voting, ballot["id"]) == 0
    # The member can still vote properly afterwards.
    assert cast(voting.client, ballot["id"], "m01", "basically_satisfied").status_code == 201


# --- results and closing --------------------------------------------------------


def test_results_hidden_until_close_while_turnout_is_visible(voting):
    _, ballot = open_meeting_ballot(voting.client, members=5)
    for member, choice in (("m01", "satisfied"), ("m02", "unsatisfied")):
        assert cast(voting.client, ballot["id"], member, choice).status_code == 201
    during = get_ballot(voting.client, ballot["id"])
    assert during["status"] == "open"
    assert during["votes_cast"] == 2
    assert during["results"] is None
    assert during["invalid"] is None
    assert during["closed_at"] is None


def test_close_tallies_with_chinese_labels(voting):
    meeting, ballot = open_meeting_ballot(voting.client, members=7, present=6)
    choices = {"m01": "satisfied", "m02": "satisfied", "m03": "satisfied", "m04": "basically_satisfied", "m05": "unsatisfied"}
    for member, choice in choices.items():
        assert cast(voting.client, ballot["id"], member, choice).status_code == 201
    resp = voting.client.post(f"/v1/ballots/{ballot['id']}/close")
    assert resp.status_code == 200, resp.text
    closed = resp.json()
    assert closed["status"] == "closed"
    assert closed["closed_at"] is not None
    assert closed["results"] == [
        {"code": "satisfied", "label": "满意", "votes": 3},
        {"code": "basically_satisfied", "label": "基本满意", "votes": 1},
        {"code": "unsatisfied", "label": "不满意", "votes": 1},
    ]
    assert closed["votes_cast"] == 5
    assert closed["invalid"] == 0
    assert closed["present_at_open"] == 6
    assert closed["present_at_close"] == 6
    assert closed["members_total"] == 7
    assert get_ballot(voting.client, ballot["id"]) == closed


def test_closing_twice_is_refused_and_announces_once(voting):
    _, ballot = open_meeting_ballot(voting.client, members=4)
    assert cast(voting.client, ballot["id"], "m01", "unsatisfied").status_code == 201
    first = voting.client.post(f"/v1/ballots/{ballot['id']}/close")
    assert first.status_code == 200
    assert_problem(voting.client.post(f"/v1/ballots/{ballot['id']}/close"), 409, "ballot-closed")
    assert get_ballot(voting.client, ballot["id"]) == first.json()
    assert len(voting.outbox("ballot.closed")) == 1
    # A closed ballot cannot be reopened either.
    assert_problem(voting.client.post(f"/v1/ballots/{ballot['id']}/open"), 409, "ballot-closed")
    assert get_ballot(voting.client, ballot["id"])["status"] == "closed"


def test_closing_a_draft_is_refused(voting):
    meeting = create_meeting(voting.client, members=4)
    ballot = create_ballot(voting.client, meeting["id"])
    body = assert_problem(voting.client.post(f"/v1/ballots/{ballot['id']}/close"), 409, "ballot-not-open")
    assert body["ballot_status"] == "draft"
    assert get_ballot(voting.client, ballot["id"])["status"] == "draft"
    assert voting.outbox("ballot.closed") == []


def test_close_writes_one_ballot_closed_event_with_the_full_tally(voting):
    meeting, ballot = open_meeting_ballot(voting.client, members=5, present=4, evaluation_year=2020, vote_round=2)
    assert voting.outbox("ballot.closed") == []
    for member, choice in (("m01", "satisfied"), ("m02", "unsatisfied"), ("m03", "unsatisfied")):
        assert cast(voting.client, ballot["id"], member, choice).status_code == 201
    # One member leaves before the close: the tally reports presence at close.
    assert voting.client.post(f"/v1/meetings/{meeting['id']}/check-outs", json={"member_ids": ["m04"]}).status_code == 200
    closed = voting.client.post(f"/v1/ballots/{ballot['id']}/close", headers={"x-request-id": "req-42"}).json()

    rows = voting.outbox("ballot.closed")
    assert len(rows) == 1
    row = rows[0]
    assert row.topic == "ballot.closed"
    # Keyed by department: one department's votes stay in order for scoring's round count.
    assert row.key == ballot["department"]
    assert row.sent_at is None
    assert row.request_id == "req-42"
    envelope = Envelope.model_validate_json(row.body)
    assert str(envelope.event_id) == row.event_id
    assert uuid.UUID(row.event_id)
    assert envelope.type == "ballot.closed"
    assert envelope.version == 1
    assert envelope.producer == "voting"
    assert envelope.key == ballot["department"]

    event = BallotClosed.from_envelope(envelope)
    assert event.ballot_id == ballot["id"]
    assert event.ballot_kind == "satisfaction"
    assert event.meeting_id == meeting["id"]
    assert event.meeting_number == meeting["number"]
    assert event.meeting_date.isoformat() == meeting["held_on"]
    assert event.subject is not None
    assert (event.subject.department, event.subject.evaluation_year, event.subject.vote_round) == (DEPARTMENT, 2020, 2)
    assert event.tally.counts == {"satisfied": 1, "basically_satisfied": 0, "unsatisfied": 2}
    assert event.tally.invalid == 0
    assert event.tally.votes_cast == 3
    assert event.tally.present == 3
    assert event.tally.members_total == 5
    assert event.tally.show_of_hands is False
    assert event.closed_at.isoformat().replace("+00:00", "Z") == closed["closed_at"].replace("+00:00", "Z")


def test_ballot_from_another_meeting_agenda_item_is_refused(voting):
    meeting = create_meeting(voting.client)
    resp = voting.client.post(f"/v1/meetings/{meeting['id']}/ballots", json={"agenda_item_id": "nope"})
    assert_problem(resp, 422, "unknown-agenda-item")
    assert count_rows(voting.db, voting.models.Ballot) == 0


# --- secrecy ---------------------------------------------------------------------


def _columns(voting, table: str) -> set[str]:
    with voting.db.session() as session:
        return {c["name"] for c in inspect(session.connection()).get_columns(table)}


def test_secret_ballot_keeps_who_and_what_apart(voting):
    # The migrated schema, not only the models: no member or time beside a choice,
    # no choice beside a member, and no link between the two tables.
    # (Issue 3: votes are sealed while the ballot is open, so `sealed` and, for
    # yes/no/abstain ballots, `answers` join the vote table.)
    vote_columns = {"id", "ballot_id", "sealed", "choice", "answers", "receipt_hash"}
    assert _columns(voting, "ballot_votes") == vote_columns
    assert _columns(voting, "ballot_participations") == {"id", "ballot_id", "member_id", "voted_at"}
    assert set(voting.models.BallotVote.__table__.columns.keys()) == vote_columns
    assert "choice" not in voting.models.BallotParticipation.__table__.columns

    _, ballot = open_meeting_ballot(voting.client, members=4)
    receipts = {}
    for member, choice in (("m01", "satisfied"), ("m02", "unsatisfied")):
        resp = cast(voting.client, ballot["id"], member, choice)
        receipts[member] = resp.json()["receipt_code"]
    with voting.db.session() as session:
        # While open, no readable choice is stored at all.
        assert session.scalars(select(voting.models.BallotVote.choice)).all() == [None, None]
    assert voting.client.post(f"/v1/ballots/{ballot['id']}/close").status_code == 200
    with voting.db.session() as session:
        votes = session.execute(select(voting.models.BallotVote)).scalars().all()
        participations = session.execute(select(voting.models.BallotParticipation)).scalars().all()
        assert all(v.sealed is None and v.answers is None for v in votes)
        vote_values = [(v.id, v.ballot_id, v.choice, v.receipt_hash) for v in votes]
        who = sorted(p.member_id for p in participations)
    assert sorted(v[2] for v in vote_values) == ["satisfied", "unsatisfied"]
    assert who == ["m01", "m02"]
    flat = " ".join(" ".join(v) for v in vote_values)
    for member, code in receipts.items():
        assert member not in flat
        assert code not in flat


# --- concurrency on a database that really commits ---------------------------------


def test_concurrent_double_cast_by_one_member_counts_once(backend, fresh_database_url):
    with committed_voting(fresh_database_url(backend, "voting_double")) as v:
        _, ballot = open_meeting_ballot(v.client, members=9)
        for member in member_ids(9):
            barrier = threading.Barrier(2)

            def send(choice: str, member: str = member, barrier: threading.Barrier = barrier) -> int:
                barrier.wait(10)
                return cast(v.client, ballot["id"], member, choice).status_code

            requests = [Background(send, "satisfied"), Background(send, "unsatisfied")]
            for r in requests:
                r.start()
            assert sorted(r.outcome() for r in requests) == [201, 409], member
        assert count_rows(v.db, BallotVote, ballot_id=ballot["id"]) == 9
        assert count_rows(v.db, BallotParticipation, ballot_id=ballot["id"]) == 9
        closed = v.client.post(f"/v1/ballots/{ballot['id']}/close").json()
        assert closed["votes_cast"] == 9
        assert sum(r["votes"] for r in closed["results"]) == 9


def test_same_member_second_request_waits_for_the_first_and_is_refused(backend, fresh_database_url):
    with committed_voting(fresh_database_url(backend, "voting_overlap")) as v:
        _, ballot = open_meeting_ballot(v.client, members=4)
        at_commit, release = threading.Event(), threading.Event()
        gate_commits(v, "/votes", at_commit, release)

        first = Background(cast, v.client, ballot["id"], "m01", "satisfied")
        first.start()
        assert at_commit.wait(10)
        # The first vote is written but not committed; the same member tries again.
        second = Background(cast, v.client, ballot["id"], "m01", "unsatisfied")
        second.start()
        second.join(1.0)
        release.set()
        first_resp, second_resp = first.outcome(), second.outcome()
        v.app.dependency_overrides.clear()

        assert first_resp.status_code == 201, first_resp.text
        assert_problem(second_resp, 409, "already-voted")
        assert count_rows(v.db, BallotVote, ballot_id=ballot["id"]) == 1
        closed = v.client.post(f"/v1/ballots/{ballot['id']}/close").json()
        assert {r["code"]: r["votes"] for r in closed["results"]}["satisfied"] == 1
        assert closed["votes_cast"] == 1


def test_close_never_misses_a_vote_being_cast(backend, fresh_database_url):
    """A vote accepted while the ballot closes must be in the tally (or be refused):
    never a receipt for a vote that the result leaves out."""
    with committed_voting(fresh_database_url(backend, "voting_close_race")) as v:
        _, ballot = open_meeting_ballot(v.client, members=4)
        at_commit, release = threading.Event(), threading.Event()
        gate_commits(v, "/votes", at_commit, release)

        voter = Background(cast, v.client, ballot["id"], "m01", "unsatisfied")
        voter.start()
        assert at_commit.wait(10)
        closer = Background(v.client.post, f"/v1/ballots/{ballot['id']}/close")
        closer.start()
        closer.join(1.0)  # the close may run now, while the vote is still uncommitted
        release.set()
        vote_resp, close_resp = voter.outcome(), closer.outcome()
        v.app.dependency_overrides.clear()

        assert close_resp.status_code == 200, close_resp.text
        closed = get_ballot(v.client, ballot["id"])
        stored = count_rows(v.db, BallotVote, ballot_id=ballot["id"])
        assert closed["votes_cast"] == stored
        assert count_rows(v.db, BallotParticipation, ballot_id=ballot["id"]) == stored
        (event,) = [Envelope.model_validate_json(row.body) for row in outbox_rows(v)]
        assert event.payload["tally"]["votes_cast"] == stored
        if vote_resp.status_code == 201:
            code = vote_resp.json()["receipt_code"]
            assert v.client.get(f"/v1/ballots/{ballot['id']}/receipts/{code}").json()["counted"] is True
            assert {r["code"]: r["votes"] for r in closed["results"]}["unsatisfied"] == 1
        else:
            assert_problem(vote_resp, 409, "ballot-not-open")
            assert stored == 0


def test_concurrent_closes_announce_once(backend, fresh_database_url):
    with committed_voting(fresh_database_url(backend, "voting_close_twice")) as v:
        _, ballot = open_meeting_ballot(v.client, members=4)
        assert cast(v.client, ballot["id"], "m01", "satisfied").status_code == 201
        at_commit, release = threading.Event(), threading.Event()
        gate_commits(v, "/close", at_commit, release)

        first = Background(v.client.post, f"/v1/ballots/{ballot['id']}/close")
        first.start()
        assert at_commit.wait(10)
        at_commit.clear()
        second = Background(v.client.post, f"/v1/ballots/{ballot['id']}/close")
        second.start()
        second.join(1.0)
        release.set()
        statuses = sorted([first.outcome().status_code, second.outcome().status_code])
        v.app.dependency_overrides.clear()

        assert statuses == [200, 409]
        assert len(outbox_rows(v)) == 1
        assert get_ballot(v.client, ballot["id"])["votes_cast"] == 1


def outbox_rows(v) -> list:
    with v.db.session() as session:
        return list(session.scalars(select(OutboxMessage).where(OutboxMessage.topic == "ballot.closed")))


def test_nothing_in_the_vote_rows_joins_an_audit_entry_to_a_choice(voting):
    """Each cast is audited with its member and time, in order. The vote rows must
    carry nothing that follows that order: not their length while sealed, not their
    ids or (SQLite) rowids once readable."""
    _, ballot = open_meeting_ballot(voting.client, members=6)
    order = [("m01", "satisfied"), ("m02", "basically_satisfied"), ("m03", "unsatisfied"),
             ("m04", "satisfied"), ("m05", "unsatisfied"), ("m06", "basically_satisfied")]
    receipts = [cast(voting.client, ballot["id"], m, c).json()["receipt_code"] for m, c in order]
    rowid = "rowid" if voting.backend == "sqlite" else "NULL"
    with voting.db.session() as session:
        sealed = session.execute(text(f"SELECT id, {rowid} AS r, sealed FROM ballot_votes WHERE ballot_id = :b"),
                                 {"b": ballot["id"]}).all()
    # A choice does not show through the length of its sealed text.
    assert len({len(row.sealed) for row in sealed}) == 1

    assert voting.client.post(f"/v1/ballots/{ballot['id']}/close").status_code == 200
    with voting.db.session() as session:
        readable = session.execute(text(f"SELECT id, {rowid} AS r, choice FROM ballot_votes WHERE ballot_id = :b"),
                                   {"b": ballot["id"]}).all()
    assert sorted(row.choice for row in readable) == sorted(c for _, c in order)
    # Written anew by the close, in random order: no id of the casting remains, and the
    # (SQLite) rowids are handed out again in that random order.
    assert not {row.id for row in readable} & {row.id for row in sealed}

    entries = voting.client.get("/v1/admin/audit-log", params={"limit": 100}).json()["items"]
    casts = [e for e in entries if e["action"] == "POST /v1/ballots/{ballot_id}/votes"]
    assert [e["actor"] for e in casts] == [f"member:{m}" for m, _ in order]
    flat = repr(entries)
    for code in ("basically_satisfied", "unsatisfied", "'satisfied'", *receipts):
        assert code not in flat


def test_sealed_votes_have_one_length_per_ballot_whatever_is_marked(voting):
    meeting = create_meeting(voting.client, members=4)
    check_in(voting.client, meeting["id"], member_ids(4))
    ballot = voting.client.post(f"/v1/meetings/{meeting['id']}/resolution-ballots", json={
        "title": "人事任免", "questions": [{"text": "任命甲"}, {"text": "任命乙"}, {"text": "任命丙"}]}).json()
    open_ballot(voting.client, ballot["id"])
    q = [x["id"] for x in ballot["questions"]]
    for member, answers in (("m01", {q[0]: "yes"}), ("m02", {q[0]: "abstain", q[1]: "abstain", q[2]: "abstain"}),
                            ("m03", {q[1]: "no"})):
        resp = voting.client.post(f"/v1/ballots/{ballot['id']}/votes", json={"member_id": member, "answers": answers},
                                  headers=voting.member_token(member, meeting["id"]))
        assert resp.status_code == 201, resp.text
    with voting.db.session() as session:
        lengths = session.scalars(select(voting.models.BallotVote.sealed).where(voting.models.BallotVote.ballot_id == ballot["id"])).all()
    assert len(lengths) == 3 and len({len(s) for s in lengths}) == 1
    closed = voting.client.post(f"/v1/ballots/{ballot['id']}/close").json()
    assert [{r["code"]: r["votes"] for r in question["results"]} for question in closed["questions"]] == [
        {"yes": 1, "no": 0, "abstain": 1}, {"yes": 0, "no": 1, "abstain": 1}, {"yes": 0, "no": 0, "abstain": 1}]


def test_a_burst_of_casts_is_recorded_and_audited_one_entry_each(backend, fresh_database_url):
    """Casts arriving together are written together (one batch, one commit), with the
    same answers each would get alone, and one audit entry per recorded vote."""
    with committed_voting(fresh_database_url(backend, "voting_burst")) as v:
        meeting, ballot = open_meeting_ballot(v.client, members=12, present=10)
        go = threading.Barrier(15)
        requests = [("m01", "satisfied")] + [(f"m{i:02d}", "unsatisfied") for i in range(1, 11)] + [
            ("m11", "satisfied"), ("x99", "satisfied"), ("m02", "basically_satisfied"), ("m03", "very_satisfied")]
        headers = {m: member_headers(v.client, m, meeting["id"]) for m, _ in requests}

        def send(member: str, choice: str):
            go.wait(10)
            return cast(v.client, ballot["id"], member, choice, headers=headers[member]).status_code

        workers = [Background(send, m, c) for m, c in requests]
        for w in workers:
            w.start()
        statuses = [w.outcome() for w in workers]
        # m01..m10 once each (m01 and m02 sent twice: one of each pair is refused), m11 absent,
        # x99 no member, m03's second try malformed.
        assert sorted(statuses) == sorted([201] * 10 + [409, 409, 403, 403, 422]), statuses
        assert count_rows(v.db, BallotParticipation, ballot_id=ballot["id"]) == 10
        assert count_rows(v.db, BallotVote, ballot_id=ballot["id"]) == 10
        audit = v.client.get("/v1/admin/audit-log", params={"limit": 100}).json()["items"]
        casts = sorted(e["actor"] for e in audit if e["action"] == "POST /v1/ballots/{ballot_id}/votes")
        assert casts == [f"member:m{i:02d}" for i in range(1, 11)]
        assert v.client.get("/v1/admin/audit-log/verification").json()["intact"] is True
        closed = v.client.post(f"/v1/ballots/{ballot['id']}/close").json()
        assert closed["votes_cast"] == 10 and sum(r["votes"] for r in closed["results"]) == 10
