"""Yes/no/abstain ballots (赞成/反对/弃权): one or several questions, the pass rule
against all members by default or a configured base, and ballot.closed.questions."""

from __future__ import annotations

import pytest

from shared.messaging.events import BallotClosed, Envelope

from ._support import assert_problem, check_in, create_meeting, get_ballot, member_ids, open_ballot, vote

APPOINTMENTS = ["任命张三为市发展和改革委员会主任", "任命李四为市教育局局长"]


def resolution_ballot(voting, *, members: int, present: int, questions=APPOINTMENTS, **fields) -> tuple[dict, dict]:
    meeting = create_meeting(voting.client, members=members)
    check_in(voting.client, meeting["id"], member_ids(members)[:present])
    body = {"title": "人事任免表决", "questions": [{"text": q} for q in questions]} | fields
    resp = voting.client.post(f"/v1/meetings/{meeting['id']}/resolution-ballots", json=body)
    assert resp.status_code == 201, resp.text
    return meeting, resp.json()


def answer(voting, ballot_id: str, member: str, answers: dict):
    return vote(voting.client, ballot_id, {"member_id": member, "answers": answers})


def vote_all(voting, ballot: dict, per_question: list[list[str | None]]) -> None:
    """per_question[q][i]: member i's answer to question q (None: pressed nothing)."""
    for i, member in enumerate(member_ids(len(per_question[0]))):
        answers = {q["id"]: per_question[n][i] for n, q in enumerate(ballot["questions"]) if per_question[n][i]}
        if answers:
            assert answer(voting, ballot["id"], member, answers).status_code == 201


def close(voting, ballot_id: str) -> dict:
    resp = voting.client.post(f"/v1/ballots/{ballot_id}/close")
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_create_a_two_question_ballot(voting):
    meeting, ballot = resolution_ballot(voting, members=5, present=5)
    assert ballot["kind"] == "resolution" and ballot["status"] == "draft"
    assert ballot["pass_basis"] == "members_total"
    assert [(q["position"], q["text"], q["results"], q["passed"]) for q in ballot["questions"]] == [
        (1, APPOINTMENTS[0], None, None), (2, APPOINTMENTS[1], None, None),
    ]
    assert get_ballot(voting.client, ballot["id"]) == ballot
    assert_problem(voting.client.post(f"/v1/meetings/{meeting['id']}/resolution-ballots",
                                      json={"title": "x", "questions": []}), 422, "validation-error")


def test_pass_needs_more_than_half_of_all_members_by_default(voting):
    # 9 members: 5 yes passes, 4 yes fails, even when 4 yes is a majority of votes cast.
    _, ballot = resolution_ballot(voting, members=9, present=9)
    open_ballot(voting.client, ballot["id"])
    q1 = ["yes"] * 5 + ["no"] * 2 + ["abstain"] * 2
    q2 = ["yes"] * 4 + ["no"] * 1 + [None] * 4  # four pressed nothing on the second appointee
    vote_all(voting, ballot, [q1, q2])
    closed = close(voting, ballot["id"])
    first, second = closed["questions"]
    assert {r["code"]: r["votes"] for r in first["results"]} == {"yes": 5, "no": 2, "abstain": 2}
    assert [(r["code"], r["label"]) for r in first["results"]] == [("yes", "赞成"), ("no", "反对"), ("abstain", "弃权")]
    assert (first["votes_cast"], first["passed"]) == (9, True)
    assert {r["code"]: r["votes"] for r in second["results"]} == {"yes": 4, "no": 1, "abstain": 0}
    assert (second["votes_cast"], second["passed"]) == (5, False)
    assert closed["votes_cast"] == 9 and closed["invalid"] == 0


@pytest.mark.parametrize(("basis", "present", "yes", "no", "abstain", "passed"), [
    ("present", 7, 4, 3, 0, True),       # 4 > 7/2
    ("present", 7, 3, 3, 1, False),      # 3 is not more than 3.5
    ("present", 8, 4, 4, 0, False),      # exactly half of those present
    ("votes_cast", 5, 3, 1, 1, True),    # 3 > 5/2
    ("votes_cast", 5, 2, 1, 1, False),   # 2 is exactly half of the 4 cast
    ("votes_cast", 6, 2, 1, 0, True),    # 2 > 3/2 though far from half of all
    ("members_total", 9, 4, 0, 0, False),
    ("members_total", 9, 5, 0, 0, True),
])
def test_pass_base_configurable_per_item(voting, basis, present, yes, no, abstain, passed):
    _, ballot = resolution_ballot(voting, members=9, present=present, questions=["关于批准2021年市级决算的决议"],
                                  pass_basis=basis)
    open_ballot(voting.client, ballot["id"])
    answers = ["yes"] * yes + ["no"] * no + ["abstain"] * abstain
    vote_all(voting, ballot, [answers + [None] * (present - len(answers))])
    closed = close(voting, ballot["id"])
    assert closed["pass_basis"] == basis
    assert closed["questions"][0]["passed"] is passed


def test_close_announces_questions_in_ballot_closed(voting):
    meeting, ballot = resolution_ballot(voting, members=3, present=3)
    open_ballot(voting.client, ballot["id"])
    vote_all(voting, ballot, [["yes", "yes", "no"], ["no", "abstain", None]])
    close(voting, ballot["id"])
    (row,) = voting.outbox("ballot.closed")
    envelope = Envelope.model_validate_json(row.body)
    event = BallotClosed.from_envelope(envelope)
    assert envelope.key == meeting["id"]
    assert event.ballot_kind == "resolution" and event.subject is None
    q1, q2 = ballot["questions"]
    assert [(q.question_id, q.text, q.counts, q.passed) for q in event.questions] == [
        (q1["id"], APPOINTMENTS[0], {"yes": 2, "no": 1, "abstain": 0}, True),
        (q2["id"], APPOINTMENTS[1], {"yes": 0, "no": 1, "abstain": 1}, False),
    ]
    assert event.tally.counts == {"yes": 2, "no": 2, "abstain": 1}
    assert (event.tally.votes_cast, event.tally.present, event.tally.members_total) == (3, 3, 3)


def test_refused_answers_record_nothing(voting):
    _, ballot = resolution_ballot(voting, members=3, present=3)
    open_ballot(voting.client, ballot["id"])
    q1 = ballot["questions"][0]["id"]
    assert_problem(answer(voting, ballot["id"], "m01", {"no-such-question": "yes"}), 422, "unknown-question")
    assert_problem(answer(voting, ballot["id"], "m01", {q1: "maybe"}), 422, "validation-error")
    assert_problem(answer(voting, ballot["id"], "m01", {}), 422, "validation-error")
    body = assert_problem(vote(voting.client, ballot["id"], {"member_id": "m01", "choice": "satisfied"}), 422, "validation-error")
    assert [e["field"] for e in body["errors"]] == ["choice"]
    assert_problem(answer(voting, ballot["id"], "x99", {q1: "yes"}), 403, "not-a-member")
    assert get_ballot(voting.client, ballot["id"])["votes_cast"] == 0
    assert answer(voting, ballot["id"], "m01", {q1: "yes"}).status_code == 201
    assert_problem(answer(voting, ballot["id"], "m01", {q1: "no"}), 409, "already-voted")
    assert get_ballot(voting.client, ballot["id"])["votes_cast"] == 1


def test_satisfaction_ballot_refuses_answers(voting):
    meeting = create_meeting(voting.client, members=3)
    check_in(voting.client, meeting["id"], member_ids(3))
    ballot = voting.client.post(f"/v1/meetings/{meeting['id']}/ballots", json={"department": "市教育局", "evaluation_year": 2021}).json()
    open_ballot(voting.client, ballot["id"])
    assert_problem(answer(voting, ballot["id"], "m01", {"x": "yes"}), 422, "validation-error")
    assert get_ballot(voting.client, ballot["id"])["votes_cast"] == 0


def test_show_of_hands_per_question(voting):
    _, ballot = resolution_ballot(voting, members=5, present=4)
    q1, q2 = (q["id"] for q in ballot["questions"])
    too_many = {"questions": {q1: {"yes": 3, "no": 2}, q2: {"yes": 1}}}
    assert_problem(voting.client.post(f"/v1/ballots/{ballot['id']}/show-of-hands", json=too_many), 422,
                   "show-of-hands-exceeds-present")
    assert_problem(voting.client.post(f"/v1/ballots/{ballot['id']}/show-of-hands", json={"questions": {q1: {"yes": 3}}}),
                   422, "unknown-question")
    resp = voting.client.post(f"/v1/ballots/{ballot['id']}/show-of-hands",
                              json={"questions": {q1: {"yes": 3, "no": 1}, q2: {"yes": 2, "abstain": 2}}})
    assert resp.status_code == 200, resp.text
    closed = resp.json()
    assert closed["show_of_hands"] is True
    assert [q["passed"] for q in closed["questions"]] == [True, False]  # 3 > 5/2; 2 is not
    (row,) = voting.outbox("ballot.closed")
    payload = Envelope.model_validate_json(row.body).payload
    assert payload["tally"]["show_of_hands"] is True
    assert [q["counts"] for q in payload["questions"]] == [{"yes": 3, "no": 1, "abstain": 0}, {"yes": 2, "no": 0, "abstain": 2}]


def test_void_and_rerun_copies_the_questions(voting):
    _, ballot = resolution_ballot(voting, members=3, present=3, pass_basis="present")
    open_ballot(voting.client, ballot["id"])
    assert voting.client.post(f"/v1/ballots/{ballot['id']}/void", json={"reason": "表决器故障"}).status_code == 200
    rerun = voting.client.post(f"/v1/ballots/{ballot['id']}/rerun").json()
    assert [q["text"] for q in rerun["questions"]] == APPOINTMENTS
    assert {q["id"] for q in rerun["questions"]}.isdisjoint({q["id"] for q in ballot["questions"]})
    assert rerun["pass_basis"] == "present" and rerun["kind"] == "resolution"
