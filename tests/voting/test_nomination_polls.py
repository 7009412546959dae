"""Nomination polls of the constituencies: a roster per poll, each voter chooses up
to N departments, refusals change nothing, ballot.closed carries the counts."""

from __future__ import annotations

import pytest

from shared.messaging.events import BallotClosed, Envelope

from ._support import assert_problem, count_rows, create_meeting, get_ballot, mark

DEPTS = ["市住房和城乡建设局", "市生态环境局", "市教育局", "市卫生健康委员会"]
A, B, C, D = DEPTS


def poll(voting, *, voters: int = 5, max_choices: int = 2, constituency: str = "npc_deputies", **fields) -> dict:
    meeting = create_meeting(voting.client, members=3)
    body = {
        "meeting_id": meeting["id"], "constituency": constituency, "evaluation_year": 2022, "plan_id": "plan-2022",
        "batch": 1, "departments": DEPTS, "max_choices": max_choices,
        "voters": [{"voter_id": f"d{i:03d}", "name": f"代表{i:03d}"} for i in range(1, voters + 1)],
    } | fields
    resp = voting.client.post("/v1/nomination-polls", json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


def choose(voting, poll_id: str, voter: str, marks: list[str]):
    """A voter of the poll casts with their own member token for the poll's meeting."""
    return mark(voting.client, poll_id, voter, marks)


def test_poll_runs_without_a_sitting_and_announces_counts(voting):
    created = poll(voting, voters=5, max_choices=2)
    assert (created["kind"], created["constituency"], created["max_choices"], created["members_total"]) == (
        "nomination_poll", "npc_deputies", 2, 5)
    assert "人大代表" in created["title"]
    # No one of the committee is checked in: a constituency poll needs no quorum.
    opened = voting.client.post(f"/v1/ballots/{created['id']}/open")
    assert opened.status_code == 200, opened.text
    for voter, marks in (("d001", [A, B]), ("d002", [A]), ("d003", [C, A]), ("d004", [])):
        assert choose(voting, created["id"], voter, marks).status_code == 201
    closed = voting.client.post(f"/v1/ballots/{created['id']}/close").json()
    assert {r["code"]: r["votes"] for r in closed["results"]} == {A: 3, B: 1, C: 1, D: 0}
    assert (closed["votes_cast"], closed["invalid"], closed["present_at_close"]) == (4, 0, 4)
    (row,) = voting.outbox("ballot.closed")
    event = BallotClosed.from_envelope(Envelope.model_validate_json(row.body))
    assert (event.ballot_kind, event.constituency, event.plan_id, event.evaluation_year, event.batch) == (
        "nomination_poll", "npc_deputies", "plan-2022", 2022, 1)
    assert event.tally.counts == {A: 3, B: 1, C: 1, D: 0}
    assert (event.tally.votes_cast, event.tally.members_total) == (4, 5)


@pytest.mark.parametrize("constituency", ["working_committees", "districts_and_enterprises"])
def test_each_constituency_has_its_own_poll(voting, constituency):
    assert poll(voting, constituency=constituency)["constituency"] == constituency


def test_refusals_change_nothing(voting):
    created = poll(voting, voters=3, max_choices=2)
    assert_problem(choose(voting, created["id"], "d001", [A]), 409, "ballot-not-open")
    voting.client.post(f"/v1/ballots/{created['id']}/open")
    body = assert_problem(choose(voting, created["id"], "d001", [A, B, C]), 422, "too-many-choices")
    assert body["max_choices"] == 2
    assert_problem(choose(voting, created["id"], "x999", [A]), 403, "not-a-member")
    assert_problem(choose(voting, created["id"], "d001", ["市财政局"]), 422, "unknown-candidate")
    assert get_ballot(voting.client, created["id"])["votes_cast"] == 0
    assert choose(voting, created["id"], "d001", [A, B]).status_code == 201  # exactly N is fine
    assert_problem(choose(voting, created["id"], "d001", [C]), 409, "already-voted")
    assert get_ballot(voting.client, created["id"])["votes_cast"] == 1


def test_bad_poll_definitions(voting):
    meeting = create_meeting(voting.client, members=3)
    base = {"meeting_id": meeting["id"], "constituency": "npc_deputies", "evaluation_year": 2022, "departments": DEPTS,
            "max_choices": 2, "voters": [{"voter_id": "d1", "name": "甲"}]}
    for change in ({"constituency": "public"}, {"departments": [A, A]}, {"departments": [A, "  "]}):
        assert_problem(voting.client.post("/v1/nomination-polls", json=base | change), 422, "validation-error")
    # Rules across fields or entries (no schema can say them) are inconsistent requests.
    for change in ({"max_choices": 5}, {"voters": [{"voter_id": "d1", "name": "甲"}, {"voter_id": "d1", "name": "乙"}]}):
        assert_problem(voting.client.post("/v1/nomination-polls", json=base | change), 422, "inconsistent-request")
    assert count_rows(voting.db, voting.models.Ballot) == 0
    assert_problem(voting.client.post("/v1/nomination-polls", json=base | {"meeting_id": "nope"}), 404, "not-found")


def test_void_and_rerun_keeps_the_roster(voting):
    created = poll(voting, voters=2)
    voting.client.post(f"/v1/ballots/{created['id']}/open")
    assert voting.client.post(f"/v1/ballots/{created['id']}/void", json={"reason": "名单有误"}).status_code == 200
    rerun = voting.client.post(f"/v1/ballots/{created['id']}/rerun").json()
    assert (rerun["constituency"], rerun["max_choices"], rerun["members_total"]) == ("npc_deputies", 2, 2)
    voting.client.post(f"/v1/ballots/{rerun['id']}/open")
    assert choose(voting, rerun["id"], "d002", [B]).status_code == 201
