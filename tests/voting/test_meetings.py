"""Meetings over HTTP: creation with the roster, refusals, attendance and quorum."""

from __future__ import annotations

import datetime as dt

from ._support import assert_problem, check_in, create_meeting, member_ids, roster


def test_create_meeting_returns_roster_and_no_quorum_yet(voting):
    resp = voting.client.post(
        "/v1/meetings",
        json={"number": "第四十四次会议", "held_on": "2021-02-26", "place": "淄博市人大常委会会议室", "members": roster(5)},
    )
    assert resp.status_code == 201, resp.text
    meeting = resp.json()
    assert meeting["number"] == "第四十四次会议"
    assert meeting["held_on"] == "2021-02-26"
    assert meeting["place"] == "淄博市人大常委会会议室"
    assert meeting["members_total"] == 5
    assert meeting["present"] == 0
    assert meeting["quorum"] is False
    assert meeting["agenda"] == []
    # The roster keeps the order given, nobody is present yet.
    assert [(m["member_id"], m["name"]) for m in meeting["members"]] == [(m["member_id"], m["name"]) for m in roster(5)]
    assert all(m["present"] is False and m["checked_in_at"] is None for m in meeting["members"])

    fetched = voting.client.get(f"/v1/meetings/{meeting['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == meeting
    listed = voting.client.get("/v1/meetings").json()["items"]
    assert [m["id"] for m in listed] == [meeting["id"]]
    assert "members" not in listed[0]


def test_duplicate_meeting_number_is_refused_and_changes_nothing(voting):
    first = create_meeting(voting.client, number="第四十四次会议", held_on="2021-02-26", members=3)
    resp = voting.client.post(
        "/v1/meetings", json={"number": "第四十四次会议", "held_on": "2021-04-28", "members": roster(7, "x")}
    )
    assert_problem(resp, 409, "meeting-exists")
    listed = voting.client.get("/v1/meetings").json()["items"]
    assert len(listed) == 1
    assert listed[0]["id"] == first["id"]
    assert listed[0]["held_on"] == "2021-02-26"
    assert listed[0]["members_total"] == 3
    # The service still works after the refused insert.
    create_meeting(voting.client, number="第四十五次会议", held_on="2021-04-28")
    assert len(voting.client.get("/v1/meetings").json()["items"]) == 2


def test_roster_listing_a_member_twice_is_refused(voting):
    members = roster(3) + [{"member_id": "m02", "name": "重复的人"}]
    resp = voting.client.post("/v1/meetings", json={"number": "第四十四次会议", "held_on": "2021-02-26", "members": members})
    # A rule across the roster's entries, not a malformed field: inconsistent-request.
    body = assert_problem(resp, 422, "inconsistent-request")
    assert "members" in body["detail"] and "m02" in body["detail"], body
    assert voting.client.get("/v1/meetings").json()["items"] == []


def test_empty_roster_is_refused(voting):
    resp = voting.client.post("/v1/meetings", json={"number": "第四十四次会议", "held_on": "2021-02-26", "members": []})
    body = assert_problem(resp, 422, "validation-error")
    assert [e["field"] for e in body["errors"]] == ["members"]
    assert voting.client.get("/v1/meetings").json()["items"] == []


def test_missing_fields_are_named(voting):
    resp = voting.client.post("/v1/meetings", json={"place": "淄博", "members": roster(3)})
    body = assert_problem(resp, 422, "validation-error")
    fields = {e["field"] for e in body["errors"]}
    assert fields == {"number", "held_on"}
    assert "number" in body["detail"] and "held_on" in body["detail"]
    assert voting.client.get("/v1/meetings").json()["items"] == []


def test_unknown_field_is_refused(voting):
    resp = voting.client.post(
        "/v1/meetings", json={"number": "第四十四次会议", "held_on": "2021-02-26", "members": roster(3), "quorum": True}
    )
    body = assert_problem(resp, 422, "validation-error")
    assert [e["field"] for e in body["errors"]] == ["quorum"]


def test_malformed_json_body(voting):
    resp = voting.client.post(
        "/v1/meetings", content='{"number": "第四十四次会议", "held_on": '.encode(), headers={"content-type": "application/json"}
    )
    assert_problem(resp, 422, "malformed-json")
    assert voting.client.get("/v1/meetings").json()["items"] == []


def test_unknown_meeting_is_404(voting):
    for resp in (
        voting.client.get("/v1/meetings/no-such-meeting"),
        voting.client.get("/v1/meetings/no-such-meeting/agenda"),
        voting.client.post("/v1/meetings/no-such-meeting/check-ins", json={"member_ids": ["m01"]}),
        voting.client.post("/v1/meetings/no-such-meeting/ballots", json={"department": "市教育局", "evaluation_year": 2021}),
    ):
        body = assert_problem(resp, 404, "not-found")
        assert body["resource"] == "meeting"


def test_check_in_of_a_non_member_is_refused_and_changes_nothing(voting):
    meeting = create_meeting(voting.client, members=4)
    resp = voting.client.post(f"/v1/meetings/{meeting['id']}/check-ins", json={"member_ids": ["m01", "m02", "m03", "x99"]})
    body = assert_problem(resp, 403, "not-a-member")
    assert body["member_ids"] == ["x99"]
    after = voting.client.get(f"/v1/meetings/{meeting['id']}").json()
    # The three real members in the same request were not checked in either.
    assert after["present"] == 0
    assert after["quorum"] is False
    assert all(m["present"] is False and m["checked_in_at"] is None for m in after["members"])


def test_check_in_with_no_member_ids_is_refused(voting):
    meeting = create_meeting(voting.client, members=4)
    resp = voting.client.post(f"/v1/meetings/{meeting['id']}/check-ins", json={"member_ids": []})
    body = assert_problem(resp, 422, "validation-error")
    assert [e["field"] for e in body["errors"]] == ["member_ids"]


def test_quorum_needs_more_than_half_of_all_members(voting):
    meeting = create_meeting(voting.client, members=4)
    mid = meeting["id"]
    ids = member_ids(4)

    two = check_in(voting.client, mid, ids[:2])
    assert (two["present"], two["members_total"], two["quorum"]) == (2, 4, False)

    three = check_in(voting.client, mid, ids[2:3])
    assert (three["present"], three["quorum"]) == (3, True)
    present_flags = {m["member_id"]: m["present"] for m in three["members"]}
    assert present_flags == {"m01": True, "m02": True, "m03": True, "m04": False}
    checked_in_at = dt.datetime.fromisoformat(three["members"][2]["checked_in_at"])
    assert checked_in_at.utcoffset() == dt.timedelta(0)

    # Checking in someone already present does not count them twice.
    again = check_in(voting.client, mid, ids[:1])
    assert again["present"] == 3

    resp = voting.client.post(f"/v1/meetings/{mid}/check-outs", json={"member_ids": ["m03"]})
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert (out["present"], out["quorum"]) == (2, False)
    m03 = next(m for m in out["members"] if m["member_id"] == "m03")
    assert m03["present"] is False and m03["checked_out_at"] is not None

    assert voting.client.get(f"/v1/meetings/{mid}").json()["quorum"] is False
    assert voting.client.get("/v1/meetings").json()["items"][0]["present"] == 2


def test_check_out_of_a_non_member_is_refused_and_changes_nothing(voting):
    meeting = create_meeting(voting.client, members=4)
    check_in(voting.client, meeting["id"], member_ids(3))
    resp = voting.client.post(f"/v1/meetings/{meeting['id']}/check-outs", json={"member_ids": ["m01", "x99"]})
    assert_problem(resp, 403, "not-a-member")
    after = voting.client.get(f"/v1/meetings/{meeting['id']}").json()
    assert (after["present"], after["quorum"]) == (3, True)


def test_meetings_are_listed_by_date(voting):
    create_meeting(voting.client, number="第四十六次会议", held_on="2021-06-30")
    create_meeting(voting.client, number="第四十四次会议", held_on="2021-02-26")
    create_meeting(voting.client, number="第四十五次会议", held_on="2021-04-28")
    listed = voting.client.get("/v1/meetings").json()["items"]
    assert [m["held_on"] for m in listed] == ["2021-02-26", "2021-04-28", "2021-06-30"]
