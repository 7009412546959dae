"""Issue 6 in voting: credentials and scopes on every route, a member casts only
their own vote, clerks run only their meeting, member tokens issued by the
clerk's system, Idempotency-Key on what creates, pages, and 304 on ballot status."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from ._support import (
    assert_problem,
    cast,
    check_in,
    count_rows,
    create_ballot,
    create_meeting,
    get_ballot,
    member_ids,
    open_ballot,
    open_meeting_ballot,
    roster,
)

DEPARTMENT = "市住房和城乡建设局"

# Every route of the voting service outside the public online vote, with a body it would accept.
ROUTES = [
    ("POST", "/v1/meetings", {"number": "第四十四次会议", "held_on": "2021-02-26", "members": roster(3)}),
    ("GET", "/v1/meetings", None),
    ("GET", "/v1/meetings/{meeting}", None),
    ("GET", "/v1/meetings/{meeting}/agenda", None),
    ("POST", "/v1/meetings/{meeting}/agenda", {"kind": "resolution", "title": "决议"}),
    ("POST", "/v1/meetings/{meeting}/member-tokens", {"member_id": "m01"}),
    ("POST", "/v1/meetings/{meeting}/check-ins", {"member_ids": ["m01"]}),
    ("POST", "/v1/meetings/{meeting}/check-outs", {"member_ids": ["m01"]}),
    ("POST", "/v1/meetings/{meeting}/nonvoting-attendees", {"attendees": [{"name": "王"}]}),
    ("POST", "/v1/meetings/{meeting}/ballots", {"department": DEPARTMENT, "evaluation_year": 2021}),
    ("POST", "/v1/meetings/{meeting}/resolution-ballots", {"title": "决议", "questions": [{"text": "通过"}]}),
    ("POST", "/v1/meetings/{meeting}/selection-ballots", {"evaluation_year": 2021, "candidates": ["甲", "乙", "丙"], "seats": 2}),
    ("POST", "/v1/nomination-polls", {"meeting_id": "{meeting}", "constituency": "npc_deputies", "evaluation_year": 2022,
                                      "departments": ["甲", "乙"], "max_choices": 1, "voters": [{"voter_id": "d1", "name": "甲"}]}),
    ("GET", "/v1/ballots/{ballot}", None),
    ("POST", "/v1/ballots/{ballot}/open", None),
    ("POST", "/v1/ballots/{ballot}/votes", {"member_id": "m01", "choice": "satisfied"}),
    ("POST", "/v1/ballots/{ballot}/close", None),
    ("POST", "/v1/ballots/{ballot}/show-of-hands", {"counts": {"satisfied": 1}}),
    ("POST", "/v1/ballots/{ballot}/publish", None),
    ("POST", "/v1/ballots/{ballot}/void", {"reason": "表决器故障"}),
    ("POST", "/v1/ballots/{ballot}/rerun", None),
    ("GET", "/v1/ballots/{ballot}/receipts/abc", None),
    ("GET", "/v1/slates/plan-2022", None),
]


def _fill(value, ids: dict):
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


def _request(client, method: str, path: str, body, ids: dict, headers: dict | None = None):
    return client.request(method, _fill(path, ids), json=_fill(body, ids), headers=headers)


def _fixture(voting) -> dict:
    meeting = create_meeting(voting.client, members=3)
    check_in(voting.client, meeting["id"], member_ids(3))
    ballot = create_ballot(voting.client, meeting["id"])
    return {"meeting": meeting["id"], "ballot": ballot["id"]}


def _state(voting, ids: dict) -> tuple:
    """What any of the routes could have changed."""
    models = voting.models
    return (count_rows(voting.db, models.Meeting), count_rows(voting.db, models.Ballot),
            count_rows(voting.db, models.AgendaItem), count_rows(voting.db, models.BallotParticipation),
            get_ballot(voting.client, ids["ballot"])["status"],
            voting.client.get(f"/v1/meetings/{ids['meeting']}").json()["present"])


# --- authentication and scopes --------------------------------------------------------


def test_every_route_refuses_a_caller_without_credential(voting):
    ids = _fixture(voting)
    before = _state(voting, ids)
    anonymous = voting.anonymous
    for method, path, body in ROUTES:
        resp = _request(anonymous, method, path, body, ids)
        body_ = assert_problem(resp, 401, "unauthenticated")
        assert resp.headers["WWW-Authenticate"].startswith("Bearer"), (method, path)
        assert body_["detail"]
    # A credential that is not one of ours is refused the same way.
    bogus = _request(anonymous, "POST", "/v1/meetings", ROUTES[0][2], ids, headers={"Authorization": "Bearer pyk_0000_nope"})
    assert_problem(bogus, 401, "unauthenticated")
    assert _state(voting, ids) == before


@pytest.mark.parametrize(("scopes", "method", "path", "required"), [
    (["read"], "POST", "/v1/meetings", "voting:admin"),
    (["read"], "POST", "/v1/meetings/{meeting}/check-ins", "voting:run"),
    (["voting:run"], "POST", "/v1/meetings/{meeting}/ballots", "voting:admin"),
    (["voting:run"], "POST", "/v1/ballots/{ballot}/publish", "voting:admin"),
    (["voting:run"], "POST", "/v1/ballots/{ballot}/void", "voting:admin"),
    (["voting:run"], "POST", "/v1/meetings/{meeting}/member-tokens", "voting:admin"),
    (["read"], "POST", "/v1/ballots/{ballot}/votes", "voting:cast"),
    (["scoring:admin"], "POST", "/v1/ballots/{ballot}/open", "voting:run"),
])
def test_a_missing_scope_is_403_naming_it_and_changes_nothing(voting, scopes, method, path, required):
    ids = _fixture(voting)
    before = _state(voting, ids)
    body = next(b for m, p, b in ROUTES if (m, p) == (method, path))
    problem = assert_problem(_request(voting.client, method, path, body, ids, headers=voting.api_key(*scopes)),
                             403, "missing-scope")
    assert problem["required_scope"] == required and required in problem["detail"]
    assert _state(voting, ids) == before


def test_a_member_token_neither_runs_nor_administers(voting):
    ids = _fixture(voting)
    member = voting.member_token("m01", ids["meeting"])
    assert_problem(voting.client.post(f"/v1/ballots/{ids['ballot']}/open", headers=member), 403, "missing-scope")
    assert_problem(voting.client.post(f"/v1/meetings/{ids['meeting']}/ballots", headers=member,
                                      json={"department": DEPARTMENT, "evaluation_year": 2021}), 403, "missing-scope")
    assert get_ballot(voting.client, ids["ballot"])["status"] == "draft"
    # It reads.
    assert voting.client.get(f"/v1/ballots/{ids['ballot']}", headers=member).status_code == 200


# --- object-level: a member casts only their own vote -----------------------------------


def participations(voting, ballot_id: str) -> int:
    return count_rows(voting.db, voting.models.BallotParticipation, ballot_id=ballot_id)


def test_member_a_cannot_cast_as_member_b(voting):
    meeting, ballot = open_meeting_ballot(voting.client, members=4)
    as_a = voting.member_token("m01", meeting["id"])
    resp = voting.client.post(f"/v1/ballots/{ballot['id']}/votes", json={"member_id": "m02", "choice": "unsatisfied"},
                              headers=as_a)
    body = assert_problem(resp, 403, "not-your-vote")
    assert (body["token_member_id"], body["member_id"]) == ("m01", "m02")
    assert participations(voting, ballot["id"]) == 0
    # m02 still votes, once, with their own token; m01's own vote is untouched by the attempt.
    assert cast(voting.client, ballot["id"], "m02", "satisfied").status_code == 201
    assert cast(voting.client, ballot["id"], "m01", "satisfied", headers=as_a).status_code == 201
    assert get_ballot(voting.client, ballot["id"])["votes_cast"] == 2


def test_a_token_for_another_meeting_cannot_cast_here(voting):
    meeting, ballot = open_meeting_ballot(voting.client, members=4)
    other = create_meeting(voting.client, number="第四十五次会议", held_on="2021-04-28", members=4)
    resp = cast(voting.client, ballot["id"], "m01", "satisfied", headers=voting.member_token("m01", other["id"]))
    assert_problem(resp, 403, "other-meeting")
    assert participations(voting, ballot["id"]) == 0
    assert get_ballot(voting.client, ballot["id"])["votes_cast"] == 0


def test_an_api_key_never_casts_for_a_member(voting):
    _, ballot = open_meeting_ballot(voting.client, members=4)
    for headers in ({}, voting.api_key("voting:cast", "read")):  # the operator's admin key, and a key with the scope
        resp = voting.client.post(f"/v1/ballots/{ballot['id']}/votes", json={"member_id": "m01", "choice": "satisfied"},
                                  headers=headers)
        assert_problem(resp, 403, "member-token-required")
    assert participations(voting, ballot["id"]) == 0
    assert cast(voting.client, ballot["id"], "m01", "satisfied").status_code == 201


def test_a_clerk_runs_only_their_own_meeting(voting):
    meeting = create_meeting(voting.client, members=4)
    other = create_meeting(voting.client, number="第四十五次会议", held_on="2021-04-28", members=4)
    clerk = voting.member_token("m04", meeting["id"], clerk=True)
    resp = voting.client.post(f"/v1/meetings/{meeting['id']}/check-ins", json={"member_ids": member_ids(4)}, headers=clerk)
    assert resp.status_code == 200 and resp.json()["present"] == 4
    ballot = create_ballot(voting.client, meeting["id"])
    assert voting.client.post(f"/v1/ballots/{ballot['id']}/open", headers=clerk).status_code == 200
    assert cast(voting.client, ballot["id"], "m01", "satisfied").status_code == 201
    assert voting.client.post(f"/v1/ballots/{ballot['id']}/close", headers=clerk).status_code == 200
    # Publishing is the administrator's.
    assert_problem(voting.client.post(f"/v1/ballots/{ballot['id']}/publish", headers=clerk), 403, "missing-scope")

    # Not the other meeting: nothing there changes.
    other_ballot = create_ballot(voting.client, other["id"])
    assert_problem(voting.client.post(f"/v1/meetings/{other['id']}/check-ins", json={"member_ids": ["m01"]}, headers=clerk),
                   403, "other-meeting")
    assert_problem(voting.client.post(f"/v1/ballots/{other_ballot['id']}/show-of-hands", json={"counts": {"satisfied": 1}},
                                      headers=clerk), 403, "other-meeting")
    assert voting.client.get(f"/v1/meetings/{other['id']}").json()["present"] == 0
    assert get_ballot(voting.client, other_ballot["id"])["status"] == "draft"


# --- member tokens from the clerk's system ------------------------------------------------


def test_member_tokens_are_issued_for_the_roster_and_cast(voting):
    meeting, ballot = open_meeting_ballot(voting.client, members=3)
    resp = voting.client.post(f"/v1/meetings/{meeting['id']}/member-tokens", json={"member_id": "m02"})
    assert resp.status_code == 200, resp.text
    issued = resp.json()
    assert (issued["member_id"], issued["meeting_id"], issued["scopes"]) == ("m02", meeting["id"], ["voting:cast", "voting:read"])
    assert issued["expires_at"] > ballot["opened_at"]
    headers = {"Authorization": f"Bearer {issued['token']}"}
    assert cast(voting.client, ballot["id"], "m02", "basically_satisfied", headers=headers).status_code == 201
    assert_problem(voting.client.post(f"/v1/ballots/{ballot['id']}/close", headers=headers), 403, "missing-scope")

    clerk = voting.client.post(f"/v1/meetings/{meeting['id']}/member-tokens", json={"member_id": "m03", "clerk": True}).json()
    assert clerk["scopes"] == ["voting:cast", "voting:read", "voting:run"]
    closed = voting.client.post(f"/v1/ballots/{ballot['id']}/close", headers={"Authorization": f"Bearer {clerk['token']}"})
    assert closed.status_code == 200 and closed.json()["votes_cast"] == 1

    # Not on the roster: no token; a member token cannot issue tokens.
    body = assert_problem(voting.client.post(f"/v1/meetings/{meeting['id']}/member-tokens", json={"member_id": "x99"}),
                          403, "not-a-member")
    assert body["member_id"] == "x99"
    assert_problem(voting.client.post(f"/v1/meetings/{meeting['id']}/member-tokens", json={"member_id": "m01"},
                                      headers=headers), 403, "missing-scope")
    assert_problem(voting.client.post("/v1/meetings/nope/member-tokens", json={"member_id": "m01"}), 404, "not-found")

    # The issue is audited (who, for whom), the token itself never.
    entries = voting.client.get("/v1/admin/audit-log", params={"limit": 100}).json()["items"]
    issued_entries = [e for e in entries if e["action"] == "POST /v1/meetings/{meeting_id}/member-tokens"]
    assert [e["detail"]["member_id"] for e in issued_entries] == ["m02", "m03"]
    assert all(e["actor"] == "voting-operator" for e in issued_entries)
    assert not any(issued["token"] in str(e) or clerk["token"] in str(e) for e in entries)


def test_poll_voters_get_tokens_for_the_polls_meeting(voting):
    meeting = create_meeting(voting.client, members=3)
    poll = voting.client.post("/v1/nomination-polls", json={
        "meeting_id": meeting["id"], "constituency": "npc_deputies", "evaluation_year": 2022, "departments": ["甲", "乙"],
        "max_choices": 1, "voters": [{"voter_id": "d001", "name": "代表"}]}).json()
    assert voting.client.post(f"/v1/ballots/{poll['id']}/open").status_code == 200
    issued = voting.client.post(f"/v1/meetings/{meeting['id']}/member-tokens", json={"member_id": "d001"})
    assert issued.status_code == 200, issued.text
    resp = voting.client.post(f"/v1/ballots/{poll['id']}/votes", json={"member_id": "d001", "marks": ["甲"]},
                              headers={"Authorization": f"Bearer {issued.json()['token']}"})
    assert resp.status_code == 201, resp.text
    # A poll voter is not a clerk of the committee's meeting.
    assert_problem(voting.client.post(f"/v1/meetings/{meeting['id']}/member-tokens", json={"member_id": "d001", "clerk": True}),
                   403, "not-a-member")


# --- Idempotency-Key on what creates ---------------------------------------------------------


def _creating_requests(voting) -> list[tuple[str, dict, dict, object]]:
    """(path, body, another body, model whose rows it creates) for every creating POST."""
    meeting = create_meeting(voting.client, members=3)
    check_in(voting.client, meeting["id"], member_ids(3))
    mid = meeting["id"]
    voided = create_ballot(voting.client, mid, department="市教育局")
    assert voting.client.post(f"/v1/ballots/{voided['id']}/void", json={"reason": "表决器故障"}).status_code == 200
    m = voting.models
    return [
        ("/v1/meetings", {"number": "第四十五次会议", "held_on": "2021-04-28", "members": roster(3)},
         {"number": "第四十六次会议", "held_on": "2021-06-28", "members": roster(3)}, m.Meeting),
        (f"/v1/meetings/{mid}/agenda", {"kind": "resolution", "title": "决议一"}, {"kind": "resolution", "title": "决议二"},
         m.AgendaItem),
        (f"/v1/meetings/{mid}/ballots", {"department": DEPARTMENT, "evaluation_year": 2021},
         {"department": "市生态环境局", "evaluation_year": 2021}, m.Ballot),
        (f"/v1/meetings/{mid}/resolution-ballots", {"title": "决议", "questions": [{"text": "通过"}]},
         {"title": "决议", "questions": [{"text": "不通过"}]}, m.Ballot),
        (f"/v1/meetings/{mid}/selection-ballots", {"evaluation_year": 2021, "candidates": ["甲", "乙", "丙"], "seats": 2},
         {"evaluation_year": 2021, "candidates": ["甲", "乙", "丙"], "seats": 1}, m.Ballot),
        ("/v1/nomination-polls", {"meeting_id": mid, "constituency": "npc_deputies", "evaluation_year": 2022,
                                  "departments": ["甲", "乙"], "max_choices": 1, "voters": [{"voter_id": "d1", "name": "甲"}]},
         {"meeting_id": mid, "constituency": "working_committees", "evaluation_year": 2022,
          "departments": ["甲", "乙"], "max_choices": 1, "voters": [{"voter_id": "d1", "name": "甲"}]}, m.Ballot),
        (f"/v1/meetings/{mid}/nonvoting-attendees", {"attendees": [{"name": "王"}]}, {"attendees": [{"name": "李"}]},
         m.NonVotingAttendee),
        (f"/v1/ballots/{voided['id']}/rerun", None, {"unexpected": True}, m.Ballot),
    ]


def test_a_retried_create_returns_the_first_response_and_creates_nothing_more(voting):
    for n, (path, body, other, model) in enumerate(_creating_requests(voting)):
        key = {"Idempotency-Key": f"retry-{n}"}
        first = voting.client.post(path, json=body, headers=key)
        assert first.status_code in (200, 201), (path, first.text)
        rows = count_rows(voting.db, model)
        again = voting.client.post(path, json=body, headers=key)
        assert (again.status_code, again.json()) == (first.status_code, first.json()), path
        assert again.headers["Idempotent-Replayed"] == "true"
        assert count_rows(voting.db, model) == rows, path
        # The same key with another request is refused and changes nothing.
        body_ = assert_problem(voting.client.post(path, json=other, headers=key), 422, "idempotency-key-reused")
        assert body_["idempotency_key"] == f"retry-{n}"
        assert count_rows(voting.db, model) == rows, path


def test_keys_are_per_caller(voting):
    body = {"number": "第四十五次会议", "held_on": "2021-04-28", "members": roster(3)}
    key = {"Idempotency-Key": "same-key"}
    assert voting.client.post("/v1/meetings", json=body, headers=key).status_code == 201
    other_admin = voting.api_key("voting:admin") | key
    # Another caller's key of the same name is its own: a real second attempt, refused by the rule.
    assert_problem(voting.client.post("/v1/meetings", json=body, headers=other_admin), 409, "meeting-exists")


def test_a_retried_cast_returns_the_same_receipt_and_counts_once(voting):
    meeting, ballot = open_meeting_ballot(voting.client, members=4)
    headers = voting.member_token("m01", meeting["id"]) | {"Idempotency-Key": "cast-1"}
    first = cast(voting.client, ballot["id"], "m01", "unsatisfied", headers=headers)
    assert first.status_code == 201, first.text
    again = cast(voting.client, ballot["id"], "m01", "unsatisfied", headers=headers)
    assert (again.status_code, again.json()) == (201, first.json())
    assert again.headers["Idempotent-Replayed"] == "true"
    assert participations(voting, ballot["id"]) == 1
    assert count_rows(voting.db, voting.models.BallotVote, ballot_id=ballot["id"]) == 1
    # Another choice under the same key: refused, the first vote stands.
    assert_problem(cast(voting.client, ballot["id"], "m01", "satisfied", headers=headers), 422, "idempotency-key-reused")
    # Without a key a second cast is the rule's refusal.
    assert_problem(cast(voting.client, ballot["id"], "m01", "satisfied"), 409, "already-voted")

    # What the key row keeps does not reveal the choice: neither a plain hash of
    # the body (three bodies to try) nor the receipt (its hash is on the vote row).
    import hashlib
    import json

    with voting.db.session() as session:
        row = session.scalars(select(voting.models.IdempotencyKey).where(voting.models.IdempotencyKey.key == "cast-1")).one()
        stored = (row.request_hash, row.response_body)
    path = f"/v1/ballots/{ballot['id']}/votes"
    for choice in ("satisfied", "basically_satisfied", "unsatisfied"):
        canonical = json.dumps({"member_id": "m01", "choice": choice}, sort_keys=True, separators=(",", ":"))
        assert hashlib.sha256(f"POST {path}\n{canonical}".encode()).hexdigest() != stored[0]
    assert first.json()["receipt_code"] not in stored[1]

    closed = voting.client.post(f"/v1/ballots/{ballot['id']}/close").json()
    assert closed["votes_cast"] == 1 and {r["code"]: r["votes"] for r in closed["results"]}["unsatisfied"] == 1
    # After the close the sealed receipt cannot be opened: a late retry is told the vote was recorded.
    late = assert_problem(cast(voting.client, ballot["id"], "m01", "unsatisfied", headers=headers), 409, "already-voted")
    assert late["ballot_status"] == "closed"
    assert voting.client.get(f"/v1/ballots/{ballot['id']}/receipts/{first.json()['receipt_code']}").json()["counted"] is True


# --- pages --------------------------------------------------------------------------------


def test_meetings_and_agenda_come_in_pages(voting):
    dates = ["2021-02-26", "2021-04-28", "2021-06-30", "2021-08-26", "2021-10-28"]
    for n, held_on in enumerate(reversed(dates)):
        create_meeting(voting.client, number=f"第{n}次会议", held_on=held_on)
    seen, cursor = [], None
    while True:
        page = voting.client.get("/v1/meetings", params={"limit": 2} | ({"cursor": cursor} if cursor else {})).json()
        assert len(page["items"]) <= 2
        seen += [m["held_on"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == dates
    assert_problem(voting.client.get("/v1/meetings", params={"cursor": "not-a-cursor"}), 422, "invalid-cursor")
    assert_problem(voting.client.get("/v1/meetings", params={"limit": 101}), 422, "validation-error")

    meeting_id = voting.client.get("/v1/meetings").json()["items"][0]["id"]
    for title in ("一", "二", "三"):
        voting.client.post(f"/v1/meetings/{meeting_id}/agenda", json={"kind": "report", "title": title})
    first = voting.client.get(f"/v1/meetings/{meeting_id}/agenda", params={"limit": 2}).json()
    rest = voting.client.get(f"/v1/meetings/{meeting_id}/agenda", params={"cursor": first["next_cursor"]}).json()
    assert [a["title"] for a in first["items"] + rest["items"]] == ["一", "二", "三"]
    assert rest["next_cursor"] is None


# --- ballot status for polling devices ------------------------------------------------------


def test_ballot_status_answers_304_while_unchanged(voting):
    meeting, ballot = open_meeting_ballot(voting.client, members=4)
    device = voting.member_token("m01", meeting["id"])
    first = voting.client.get(f"/v1/ballots/{ballot['id']}", headers=device)
    assert first.status_code == 200
    etag = first.headers["ETag"]
    assert "max-age" in first.headers["Cache-Control"] and "private" in first.headers["Cache-Control"]
    unchanged = voting.client.get(f"/v1/ballots/{ballot['id']}", headers=device | {"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert unchanged.headers["ETag"] == etag and unchanged.headers["Cache-Control"] == first.headers["Cache-Control"]

    # A vote changes the turnout: the next poll gets the new status.
    assert cast(voting.client, ballot["id"], "m02", "satisfied").status_code == 201
    changed = voting.client.get(f"/v1/ballots/{ballot['id']}", headers=device | {"If-None-Match": etag})
    assert changed.status_code == 200 and changed.json()["votes_cast"] == 1 and changed.headers["ETag"] != etag
    # A close too.
    assert voting.client.post(f"/v1/ballots/{ballot['id']}/close").status_code == 200
    closed = voting.client.get(f"/v1/ballots/{ballot['id']}", headers=device | {"If-None-Match": changed.headers["ETag"]})
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    # Polling needs a credential like any read.
    assert_problem(voting.anonymous.get(f"/v1/ballots/{ballot['id']}", headers={"If-None-Match": etag}), 401, "unauthenticated")
    assert_problem(voting.client.get("/v1/ballots/nope", headers={"If-None-Match": etag}), 404, "not-found")


def test_a_draft_opened_elsewhere_is_seen_at_once(voting):
    meeting = create_meeting(voting.client, members=3)
    check_in(voting.client, meeting["id"], member_ids(3))
    ballot = create_ballot(voting.client, meeting["id"])
    etag = voting.client.get(f"/v1/ballots/{ballot['id']}").headers["ETag"]
    open_ballot(voting.client, ballot["id"])
    assert voting.client.get(f"/v1/ballots/{ballot['id']}", headers={"If-None-Match": etag}).json()["status"] == "open"


def test_expired_or_forged_member_tokens_cannot_cast(voting):
    import datetime as dt

    from shared.security.credentials import issue_member_token

    meeting, ballot = open_meeting_ballot(voting.client, members=4)
    secret = voting.app.state.settings.auth_token_secret
    expired = issue_member_token(secret, member_id="m01", meeting_id=meeting["id"], scopes=["read", "voting:cast"],
                                 ttl=dt.timedelta(seconds=-1))
    forged = issue_member_token("another-secret-of-at-least-32-characters!", member_id="m01", meeting_id=meeting["id"],
                                scopes=["read", "voting:cast"])
    valid = voting.member_token("m01", meeting["id"])["Authorization"].split(" ", 1)[1]
    tampered = valid[:-2] + ("AA" if not valid.endswith("AA") else "BB")
    for token in (expired, forged, tampered, "not.a.token"):
        resp = cast(voting.client, ballot["id"], "m01", "satisfied", headers={"Authorization": f"Bearer {token}"})
        assert_problem(resp, 401, "unauthenticated")
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    # A token without the cast scope (a reader's) is refused too.
    from shared.security.credentials import issue_member_token as issue

    reader = issue(secret, member_id="m01", meeting_id=meeting["id"], scopes=["read"])
    body = assert_problem(cast(voting.client, ballot["id"], "m01", "satisfied", headers={"Authorization": f"Bearer {reader}"}),
                          403, "missing-scope")
    assert body["required_scope"] == "voting:cast"
    assert participations(voting, ballot["id"]) == 0
    # The member's own valid token still casts, once.
    assert cast(voting.client, ballot["id"], "m01", "satisfied", headers={"Authorization": f"Bearer {valid}"}).status_code == 201
    assert_problem(cast(voting.client, ballot["id"], "m01", "satisfied", headers={"Authorization": f"Bearer {valid}"}),
                   409, "already-voted")
