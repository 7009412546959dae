"""The core flow through real processes: Tansu, the three services with their
relays and consumers, HTTP in and out.

voting closes a 不满意 satisfaction ballot → scoring grades it → tracking opens
a special investigation and schedules a re-report → voting puts the re-report
and re-vote on the next meeting's agenda.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from shared.ops.embedded import EmbeddedStack, free_ports
from tests.waiting import wait_for

pytestmark = pytest.mark.broker

MEMBERS = [{"member_id": f"m{i:02d}", "name": f"委员{i:02d}"} for i in range(1, 8)]
DEPARTMENT = "淄博市教育局"


@pytest.fixture(params=["sqlite", "postgres"])
def stack(request, tmp_path):
    database_urls = {}
    if request.param == "postgres":
        postgres = request.getfixturevalue("postgres")
        suffix = uuid.uuid4().hex[:6]
        database_urls = {s: postgres.create(f"e2e_{s}_{suffix}") for s in ("voting", "scoring", "tracking")}
    with EmbeddedStack(var_dir=tmp_path / "var", ports=free_ports(), database_urls=database_urls) as running:
        yield running
    for service in ("voting", "scoring", "tracking"):
        errors = [line for line in own_log_lines(tmp_path / "var" / f"{service}.log")
                  if line.get("level") in ("error", "critical") or "exception" in line]
        assert errors == [], f"{service} logged errors: {errors}"


def own_log_lines(path):
    """Our JSON log lines; kafka-python's own noise while closing sockets is not ours."""
    import json

    for raw in path.read_text(errors="replace").splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if not str(line.get("logger", "")).startswith("kafka"):
            yield line


def cast(stack, voting: httpx.Client, ballot_id: str, meeting_id: str, member_id: str, choice: str) -> httpx.Response:
    """A member casts with their own token, as their voting device would."""
    token = stack.member_token(member_id, meeting_id)
    return voting.post(f"/v1/ballots/{ballot_id}/votes", json={"member_id": member_id, "choice": choice},
                       headers={"Authorization": f"Bearer {token}"})


def hold_unsatisfied_vote(stack, voting: httpx.Client, meeting_number: str, held_on: str) -> tuple[str, str]:
    meeting = voting.post("/v1/meetings", json={"number": meeting_number, "held_on": held_on, "members": MEMBERS})
    assert meeting.status_code == 201, meeting.text
    meeting_id = meeting.json()["id"]
    voting.post(f"/v1/meetings/{meeting_id}/check-ins", json={"member_ids": [m["member_id"] for m in MEMBERS[:6]]})
    ballot = voting.post(f"/v1/meetings/{meeting_id}/ballots", json={"department": DEPARTMENT, "evaluation_year": 2021})
    assert ballot.status_code == 201, ballot.text
    ballot_id = ballot.json()["id"]
    assert voting.post(f"/v1/ballots/{ballot_id}/open").status_code == 200
    # 2 满意, 1 基本满意, 3 不满意 of 7 members: 满意+基本满意 = 3, not more than half.
    choices = ["satisfied", "satisfied", "basically_satisfied", "unsatisfied", "unsatisfied", "unsatisfied"]
    for member, choice in zip(MEMBERS, choices, strict=False):
        response = cast(stack, voting, ballot_id, meeting_id, member["member_id"], choice)
        assert response.status_code == 201, response.text
    closed = voting.post(f"/v1/ballots/{ballot_id}/close")
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed"
    return meeting_id, ballot_id


def test_unsatisfied_vote_puts_rereport_on_next_meeting(stack):
    voting = httpx.Client(base_url=stack.url("voting"), headers=stack.operator_headers, timeout=10)
    scoring = httpx.Client(base_url=stack.url("scoring"), headers=stack.operator_headers, timeout=10)
    tracking = httpx.Client(base_url=stack.url("tracking"), headers=stack.operator_headers, timeout=10)

    meeting_id, ballot_id = hold_unsatisfied_vote(stack, voting, "第四十八次会议", "2021-08-26")

    result = wait_for(lambda: (r := scoring.get(f"/v1/satisfaction-results/{ballot_id}")).status_code == 200 and r.json())
    assert result["grade"] == "unsatisfied"
    assert result["grade_label"] == "不满意"
    assert result["unsatisfied_round"] == 1
    assert result["denominator"] == len(MEMBERS)

    # Operations see the event go through: consumed, and the group caught up.
    metrics = wait_for(lambda: (t := scoring.get("/metrics").text) and "pingyi_consumer_lag{" in t and t)
    assert 'pingyi_events_consumed_total{outcome="handled"} 1.0' in metrics
    assert 'pingyi_consumer_lag{partition="' in metrics and 'topic="ballot.closed"' in metrics

    cases = wait_for(lambda: tracking.get("/v1/cases", params={"department": DEPARTMENT}).json()["items"])
    case = wait_for(lambda: (c := tracking.get(f"/v1/cases/{cases[0]['id']}").json())["rereports"] and c)
    assert case["stage"] == "investigation"
    assert [r["round"] for r in case["unsatisfied_rounds"]] == [1]
    assert case["investigations"][0]["status"] == "open"
    assert case["rereports"][0]["vote_round"] == 2
    assert case["rereports"][0]["after_meeting_id"] == meeting_id

    # No later meeting exists yet: the re-report waits, then lands on the next one by date.
    later = voting.post("/v1/meetings", json={"number": "第五十次会议", "held_on": "2021-12-20", "members": MEMBERS})
    nearer = voting.post("/v1/meetings", json={"number": "第四十九次会议", "held_on": "2021-10-28", "members": MEMBERS})
    assert later.status_code == nearer.status_code == 201

    def rereport_items(meeting):
        agenda = voting.get(f"/v1/meetings/{meeting.json()['id']}/agenda").json()["items"]
        return [item for item in agenda if item["kind"] == "rereport_revote"]

    # Whether the event arrived before or between the two meetings, it ends on the nearer one.
    items = wait_for(lambda: rereport_items(nearer))
    assert rereport_items(later) == []
    assert len(items) == 1
    item = items[0]
    assert item["department"] == DEPARTMENT
    assert item["vote_round"] == 2
    assert "询问或质询" in item["title"]


def test_rereport_attaches_to_an_existing_next_meeting_and_revote_runs(stack):
    voting = httpx.Client(base_url=stack.url("voting"), headers=stack.operator_headers, timeout=10)
    tracking = httpx.Client(base_url=stack.url("tracking"), headers=stack.operator_headers, timeout=10)

    next_meeting = voting.post("/v1/meetings", json={"number": "第四十五次会议", "held_on": "2021-10-28", "members": MEMBERS})
    assert next_meeting.status_code == 201
    next_id = next_meeting.json()["id"]
    hold_unsatisfied_vote(stack, voting, "第四十四次会议", "2021-08-26")

    agenda = wait_for(lambda: [i for i in voting.get(f"/v1/meetings/{next_id}/agenda").json()["items"] if i["kind"] == "rereport_revote"])
    assert agenda[0]["department"] == DEPARTMENT

    # The re-vote at the next meeting takes department, year and round from the agenda item.
    voting.post(f"/v1/meetings/{next_id}/check-ins", json={"member_ids": [m["member_id"] for m in MEMBERS]})
    revote = voting.post(f"/v1/meetings/{next_id}/ballots", json={"agenda_item_id": agenda[0]["id"]})
    assert revote.status_code == 201, revote.text
    assert revote.json()["vote_round"] == 2
    revote_id = revote.json()["id"]
    voting.post(f"/v1/ballots/{revote_id}/open")
    for member in MEMBERS:
        assert cast(stack, voting, revote_id, next_id, member["member_id"], "basically_satisfied").status_code == 201
    assert voting.post(f"/v1/ballots/{revote_id}/close").status_code == 200

    def graded_basically():
        cases = tracking.get("/v1/cases", params={"department": DEPARTMENT}).json()["items"]
        return cases and cases[0]["latest_grade"] == "basically_satisfied" and cases[0]
    case = wait_for(graded_basically)
    assert case["evaluation_year"] == 2021


def test_every_change_and_handled_event_is_on_an_intact_audit_chain(stack):
    voting = httpx.Client(base_url=stack.url("voting"), headers=stack.operator_headers, timeout=10)
    tracking = httpx.Client(base_url=stack.url("tracking"), headers=stack.operator_headers, timeout=10)
    _, ballot_id = hold_unsatisfied_vote(stack, voting, "第四十六次会议", "2021-09-26")

    def tracking_handled_the_vote():
        entries = tracking.get("/v1/admin/audit-log", params={"limit": 100}).json()["items"]
        return [e for e in entries if e["action"] == "handle vote.marked_unsatisfied"]

    [handled] = wait_for(tracking_handled_the_vote)
    assert handled["actor"].startswith("event:")

    entries = voting.get("/v1/admin/audit-log", params={"limit": 100}).json()["items"]
    actions = [e["action"] for e in entries]
    assert "POST /v1/meetings" in actions and "POST /v1/ballots/{ballot_id}/close" in actions
    [closing] = [e for e in entries if e["action"] == "POST /v1/ballots/{ballot_id}/close"]
    assert closing["subject"] == f"/v1/ballots/{ballot_id}/close" and closing["actor"] == "local-operator"
    for client in (voting, tracking):
        assert client.get("/v1/admin/audit-log/verification").json()["intact"] is True
