"""What voting publishes without a credential: meetings, the chamber board
(应到/实到, quorum, turnout, the result at close), finished ballots' results and
a selection's rounds, and never a member's choice or a draft."""

from __future__ import annotations

from ._support import assert_problem, cast, check_in, create_ballot, create_meeting, member_ids, open_ballot, open_meeting_ballot
from ._support import mark
from .test_selection_ballots import deliver, slate_event

DEPTS = ["市住房和城乡建设局", "市生态环境局", "市教育局"]


def board(voting, meeting_id: str, **headers):
    return voting.anonymous.get(f"/v1/public/meetings/{meeting_id}/board", headers=headers)


def test_board_follows_the_meeting_from_roll_to_turnout_to_result(voting):
    meeting = create_meeting(voting.client, members=5)
    before = board(voting, meeting["id"])
    assert before.status_code == 200, before.text
    body = before.json()
    assert (body["members_total"], body["present"], body["quorum"], body["ballot"]) == (5, 0, False, None)
    assert body["meeting"]["number"] == "第四十四次会议"

    check_in(voting.client, meeting["id"], member_ids(5)[:4])
    ballot = create_ballot(voting.client, meeting["id"])
    assert board(voting, meeting["id"]).json()["ballot"] is None  # a draft is not shown
    open_ballot(voting.client, ballot["id"])
    shown = board(voting, meeting["id"])
    assert shown.headers["etag"] and "max-age=1" in shown.headers["cache-control"]
    body = shown.json()
    assert (body["present"], body["quorum"]) == (4, True)
    assert (body["ballot"]["id"], body["ballot"]["status"], body["ballot"]["votes_cast"]) == (ballot["id"], "open", 0)
    assert body["ballot"]["results"] is None
    assert board(voting, meeting["id"], **{"If-None-Match": shown.headers["etag"]}).status_code == 304

    for member, choice in zip(member_ids(3), ["satisfied", "satisfied", "unsatisfied"], strict=True):
        assert cast(voting.client, ballot["id"], member, choice).status_code == 201
    assert board(voting, meeting["id"]).json()["ballot"]["votes_cast"] == 3

    assert voting.client.post(f"/v1/ballots/{ballot['id']}/close").status_code == 200
    closed = board(voting, meeting["id"]).json()["ballot"]
    assert closed["status"] == "closed"
    assert {r["label"]: r["votes"] for r in closed["results"]} == {"满意": 2, "基本满意": 0, "不满意": 1}
    assert "void_reason" not in closed and "receipt_code" not in str(closed)


def test_board_of_an_unknown_meeting_is_not_found(voting):
    assert_problem(board(voting, "no-such-meeting"), 404, "not-found")


def test_a_ballot_result_is_public_once_closed_only(voting):
    meeting, ballot = open_meeting_ballot(voting.client, members=3)
    assert_problem(voting.anonymous.get(f"/v1/public/ballots/{ballot['id']}"), 404, "result-not-published")
    for member in member_ids(3):
        assert cast(voting.client, ballot["id"], member, "basically_satisfied").status_code == 201
    voting.client.post(f"/v1/ballots/{ballot['id']}/close")
    result = voting.anonymous.get(f"/v1/public/ballots/{ballot['id']}")
    assert result.status_code == 200, result.text
    assert result.json()["votes_cast"] == 3 and result.json()["quorum_at_close"] is True
    meetings = voting.anonymous.get("/v1/public/meetings").json()["items"]
    assert [(m["id"], m["members_total"]) for m in meetings] == [(meeting["id"], 3)]
    assert "members" not in meetings[0]  # no roster names


def test_selection_rounds_list_the_finished_rounds_of_a_plan_batch(voting):
    deliver(voting, slate_event("plan-2021", DEPTS, seats=1, batch=1))
    meeting = create_meeting(voting.client, members=5)
    check_in(voting.client, meeting["id"], member_ids(5))
    resp = voting.client.post(f"/v1/meetings/{meeting['id']}/selection-ballots", json={"slate": {"plan_id": "plan-2021", "batch": 1}})
    assert resp.status_code == 201, resp.text
    main = resp.json()

    def rounds(**params):
        resp = voting.anonymous.get("/v1/public/selection-rounds", params={"plan_id": "plan-2021", "batch": 1} | params)
        assert resp.status_code == 200, resp.text
        return resp.json()["items"]

    open_ballot(voting.client, main["id"])
    assert rounds() == []  # an open round is not a result
    # Nobody reaches the floor (3 of 5): a supplementary round, two candidates for the one seat.
    for member, marks in zip(member_ids(5), [[DEPTS[0]], [DEPTS[0]], [DEPTS[1]], [DEPTS[1]], [DEPTS[2]]], strict=True):
        assert mark(voting.client, main["id"], member, marks).status_code == 201
    second_id = voting.client.post(f"/v1/ballots/{main['id']}/close").json()["follow_up_ballot_id"]
    open_ballot(voting.client, second_id)
    for member, marks in zip(member_ids(5), [[DEPTS[0]]] * 3 + [[DEPTS[1]]] * 2, strict=True):
        assert mark(voting.client, second_id, member, marks).status_code == 201
    assert voting.client.post(f"/v1/ballots/{second_id}/close").status_code == 200

    held = rounds()
    assert [(r["round_kind"], r["winners"]) for r in held] == [("main", []), ("supplementary", [DEPTS[0]])]
    assert {r["code"]: r["votes"] for r in held[0]["results"]} == {DEPTS[0]: 2, DEPTS[1]: 2, DEPTS[2]: 1}
    assert held[1]["parent_ballot_id"] == main["id"] and held[0]["follow_up_ballot_id"] == held[1]["id"]
    assert rounds(batch=2) == [] and rounds(plan_id="another") == []
