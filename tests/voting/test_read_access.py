"""Issue 13, least-privilege reads in voting: every credential kind against
every read route. A member token (a clerk's too) reads its own meeting, its
ballots and their receipt checks only; another service's key reads nothing."""

from __future__ import annotations

from ._support import cast, create_ballot, create_meeting, member_ids, check_in, open_ballot

READS = {
    "/v1/meetings",
    "/v1/meetings/{meeting_id}",
    "/v1/meetings/{meeting_id}/agenda",
    "/v1/ballots/{ballot_id}",
    "/v1/ballots/{ballot_id}/receipts/{receipt_code}",
    "/v1/slates/{plan_id}",
    "/v1/meetings/{meeting_id}/record",
}
# Webhook subscriptions: admin only (tests/test_webhooks.py, test_webhook_reads_need_the_admin_scope).
ADMIN_READS = {"/v1/webhooks", "/v1/webhooks/{webhook_id}", "/v1/webhooks/{webhook_id}/deliveries"}


def _meeting_with_a_vote(voting, number: str) -> dict:
    meeting = create_meeting(voting.client, number=number, members=3)
    check_in(voting.client, meeting["id"], member_ids(3))
    ballot = open_ballot(voting.client, create_ballot(voting.client, meeting["id"])["id"])
    token = voting.member_token("m01", meeting["id"])
    receipt = cast(voting.client, ballot["id"], "m01", "satisfied", headers=token).json()["receipt_code"]
    return {"meeting": meeting["id"], "ballot": ballot["id"], "receipt": receipt}


def _paths(o: dict) -> dict[str, str]:
    return {
        "/v1/meetings/{meeting_id}": f"/v1/meetings/{o['meeting']}",
        "/v1/meetings/{meeting_id}/agenda": f"/v1/meetings/{o['meeting']}/agenda",
        "/v1/ballots/{ballot_id}": f"/v1/ballots/{o['ballot']}",
        "/v1/ballots/{ballot_id}/receipts/{receipt_code}": f"/v1/ballots/{o['ballot']}/receipts/{o['receipt']}",
        "/v1/meetings/{meeting_id}/record": f"/v1/meetings/{o['meeting']}/record",
    }


def test_the_matrix_covers_every_read_route(voting):
    spec = voting.app.openapi()["paths"]
    reads = {path for path, item in spec.items() if "get" in item and item["get"].get("security")
             and not path.startswith("/v1/admin/")}
    assert reads == READS | ADMIN_READS


def test_every_credential_kind_against_every_read_route(voting):
    mine, theirs = _meeting_with_a_vote(voting, "第四十四次会议"), _meeting_with_a_vote(voting, "第四十五次会议")
    credentials = {
        "clerk's system": {},  # voting:admin
        "reader": voting.api_key("read"),
        "voting reader": voting.api_key("voting:read"),
        "member": voting.member_token("m02", mine["meeting"]),
        "clerk": voting.member_token("m03", mine["meeting"], clerk=True),
        "other service": voting.api_key("tracking:admin"),
    }
    for kind, headers in credentials.items():
        member = kind in ("member", "clerk")
        for owner, o in (("mine", mine), ("theirs", theirs)):
            for template, path in _paths(o).items():
                r = voting.client.get(path, headers=headers)
                if kind == "other service":
                    assert (r.status_code, r.json()["type"]) == (403, "urn:pingyi:problem:missing-scope"), (kind, template)
                elif member and owner == "theirs":
                    assert (r.status_code, r.json()["type"]) == (403, "urn:pingyi:problem:other-meeting"), (kind, template)
                else:
                    assert r.status_code == 200, (kind, template, owner, r.text)
        listed = voting.client.get("/v1/meetings", headers=headers)
        if kind == "other service":
            assert listed.status_code == 403
        else:
            expected = {mine["meeting"]} if member else {mine["meeting"], theirs["meeting"]}
            assert {m["id"] for m in listed.json()["items"]} == expected, kind
        slate = voting.client.get("/v1/slates/plan-2022", headers=headers)
        if kind == "other service":
            assert slate.status_code == 403
        elif member:
            assert (slate.status_code, slate.json()["type"]) == (403, "urn:pingyi:problem:member-token-not-allowed")
        else:
            assert slate.status_code == 404  # past the gate: no slate computed for this plan
    for template, path in _paths(mine).items():
        assert voting.anonymous.get(path).status_code == 401, template


def test_a_member_polling_another_meetings_ballot_is_refused_even_when_it_is_cached(voting):
    mine, theirs = _meeting_with_a_vote(voting, "第四十四次会议"), _meeting_with_a_vote(voting, "第四十五次会议")
    assert voting.client.get(f"/v1/ballots/{theirs['ballot']}").status_code == 200  # now in the response cache
    member = voting.member_token("m02", mine["meeting"])
    r = voting.client.get(f"/v1/ballots/{theirs['ballot']}", headers=member)
    assert r.status_code == 403 and r.json()["type"] == "urn:pingyi:problem:other-meeting"
    assert voting.client.get(f"/v1/ballots/{mine['ballot']}", headers=member).status_code == 200
