"""rereport.scheduled from tracking: the department reports again and is voted on
again at the NEXT committee meeting after the unsatisfied vote."""

from __future__ import annotations

import re
import threading
import uuid

from sqlalchemy import select

from services.voting.agenda.service import REREPORT_KIND, handle_rereport_scheduled
from services.voting.models import InboxMessage
from shared.messaging.events import Envelope, RereportScheduled
from shared.messaging.inbox import HandleOutcome, handle_once

from ._support import (
    Background,
    assert_problem,
    cast,
    check_in,
    committed_voting,
    count_rows,
    create_meeting,
    gate_commits,
    member_ids,
    open_ballot,
)

DEPARTMENT = "市生态环境局"
CJK = re.compile(r"[\u4e00-\u9fff]")


def rereport_envelope(after: dict, *, department: str = DEPARTMENT, year: int = 2021, vote_round: int = 2,
                      mode: str = "inquiry_or_interpellation") -> Envelope:
    event = RereportScheduled(
        case_id=str(uuid.uuid4()),
        department=department,
        evaluation_year=year,
        vote_round=vote_round,
        after_meeting_id=after["id"],
        after_meeting_date=after["held_on"],
        mode=mode,
    )
    return event.envelope(producer="tracking", key=event.case_id)


def deliver(voting, envelope: Envelope) -> str:
    return handle_once(voting.db, voting.models.InboxMessage, handle_rereport_scheduled, envelope)


def agenda(voting, meeting: dict) -> list[dict]:
    resp = voting.client.get(f"/v1/meetings/{meeting['id']}/agenda")
    assert resp.status_code == 200, resp.text
    assert resp.json()["next_cursor"] is None
    return resp.json()["items"]


def assert_rereport_item(item: dict, *, department: str = DEPARTMENT, year: int = 2021, vote_round: int = 2) -> None:
    assert item["kind"] == REREPORT_KIND == "rereport_revote"
    assert item["department"] == department
    assert item["evaluation_year"] == year
    assert item["vote_round"] == vote_round
    assert item["mode"] == "inquiry_or_interpellation"
    assert item["position"] == 1
    assert CJK.search(item["title"]), item["title"]
    assert department in item["title"] and str(year) in item["title"]
    assert "再次" in item["title"] and "询问或质询" in item["title"]


def test_next_meeting_by_date_takes_the_rereport(voting):
    unsatisfied = create_meeting(voting.client, number="第四十四次会议", held_on="2021-02-26")
    # Created first, but held later: it must not take the item.
    later = create_meeting(voting.client, number="第四十六次会议", held_on="2021-06-30")
    same_day = create_meeting(voting.client, number="第四十四次会议（续）", held_on="2021-02-26")
    earlier = create_meeting(voting.client, number="第四十三次会议", held_on="2020-12-30")
    nxt = create_meeting(voting.client, number="第四十五次会议", held_on="2021-04-28")

    envelope = rereport_envelope(unsatisfied)
    assert deliver(voting, envelope) == HandleOutcome.HANDLED

    items = agenda(voting, nxt)
    assert len(items) == 1
    assert_rereport_item(items[0])
    for other in (unsatisfied, later, same_day, earlier):
        assert agenda(voting, other) == [], other["number"]
    # The meeting itself shows it too.
    assert voting.client.get(f"/v1/meetings/{nxt['id']}").json()["agenda"] == items

    with voting.db.session() as session:
        pending = session.scalars(select(voting.models.PendingRereport)).one()
        assert pending.event_id == str(envelope.event_id)
        assert pending.agenda_item_id == items[0]["id"]
        item = session.get(voting.models.AgendaItem, items[0]["id"])
        assert item.source_event_id == str(envelope.event_id)


def test_waits_for_a_meeting_dated_after_the_unsatisfied_vote(voting):
    unsatisfied = create_meeting(voting.client, number="第四十四次会议", held_on="2021-02-26")
    assert deliver(voting, rereport_envelope(unsatisfied)) == HandleOutcome.HANDLED

    assert count_rows(voting.db, voting.models.AgendaItem) == 0
    with voting.db.session() as session:
        pending = session.scalars(select(voting.models.PendingRereport)).one()
        assert pending.agenda_item_id is None

    # Neither a meeting on the same day nor one before it takes the item.
    same_day = create_meeting(voting.client, number="第四十四次会议（续）", held_on="2021-02-26")
    before = create_meeting(voting.client, number="第四十三次会议", held_on="2020-12-30")
    assert same_day["agenda"] == [] and before["agenda"] == []
    assert count_rows(voting.db, voting.models.AgendaItem) == 0

    nxt = create_meeting(voting.client, number="第四十五次会议", held_on="2021-04-28")
    assert len(nxt["agenda"]) == 1
    assert_rereport_item(nxt["agenda"][0])
    assert agenda(voting, nxt) == nxt["agenda"]

    # A meeting after that one does not take it a second time.
    later = create_meeting(voting.client, number="第四十六次会议", held_on="2021-06-30")
    assert later["agenda"] == []
    assert count_rows(voting.db, voting.models.AgendaItem) == 1
    for other in (unsatisfied, same_day, before):
        assert agenda(voting, other) == []


def test_same_event_delivered_twice_has_one_effect(voting):
    unsatisfied = create_meeting(voting.client, number="第四十四次会议", held_on="2021-02-26")
    nxt = create_meeting(voting.client, number="第四十五次会议", held_on="2021-04-28")
    envelope = rereport_envelope(unsatisfied)
    assert deliver(voting, envelope) == HandleOutcome.HANDLED
    # Redelivered as Kafka would: the same bytes parsed again.
    assert deliver(voting, Envelope.from_bytes(envelope.to_bytes())) == HandleOutcome.DUPLICATE
    assert len(agenda(voting, nxt)) == 1
    assert count_rows(voting.db, voting.models.AgendaItem) == 1
    assert count_rows(voting.db, voting.models.PendingRereport) == 1
    assert count_rows(voting.db, voting.models.InboxMessage, event_id=str(envelope.event_id)) == 1


def test_duplicate_delivered_while_waiting_attaches_once(voting):
    unsatisfied = create_meeting(voting.client, number="第四十四次会议", held_on="2021-02-26")
    envelope = rereport_envelope(unsatisfied)
    assert deliver(voting, envelope) == HandleOutcome.HANDLED
    assert deliver(voting, envelope) == HandleOutcome.DUPLICATE
    nxt = create_meeting(voting.client, number="第四十五次会议", held_on="2021-04-28")
    assert len(nxt["agenda"]) == 1
    assert count_rows(voting.db, voting.models.PendingRereport) == 1


def test_two_departments_go_on_the_agenda_in_order(voting):
    unsatisfied = create_meeting(voting.client, number="第四十四次会议", held_on="2021-02-26")
    nxt = create_meeting(voting.client, number="第四十五次会议", held_on="2021-04-28")
    assert deliver(voting, rereport_envelope(unsatisfied, department="市生态环境局")) == HandleOutcome.HANDLED
    assert deliver(voting, rereport_envelope(unsatisfied, department="市自然资源和规划局", mode="interpellation")) == HandleOutcome.HANDLED
    items = agenda(voting, nxt)
    assert [(i["position"], i["department"], i["mode"]) for i in items] == [
        (1, "市生态环境局", "inquiry_or_interpellation"),
        (2, "市自然资源和规划局", "interpellation"),
    ]
    assert "质询" in items[1]["title"] and "询问或质询" not in items[1]["title"]


def test_revote_ballot_takes_its_subject_from_the_agenda_item(voting):
    unsatisfied = create_meeting(voting.client, number="第四十四次会议", held_on="2021-02-26")
    nxt = create_meeting(voting.client, number="第四十五次会议", held_on="2021-04-28", members=4)
    deliver(voting, rereport_envelope(unsatisfied, year=2021, vote_round=2))
    item = agenda(voting, nxt)[0]

    resp = voting.client.post(f"/v1/meetings/{nxt['id']}/ballots", json={"agenda_item_id": item["id"]})
    assert resp.status_code == 201, resp.text
    ballot = resp.json()
    assert (ballot["agenda_item_id"], ballot["department"], ballot["evaluation_year"], ballot["vote_round"]) == (
        item["id"], DEPARTMENT, 2021, 2,
    )
    # The item belongs to the next meeting, not to the unsatisfied one.
    assert_problem(
        voting.client.post(f"/v1/meetings/{unsatisfied['id']}/ballots", json={"agenda_item_id": item["id"]}),
        422, "unknown-agenda-item",
    )

    check_in(voting.client, nxt["id"], member_ids(4))
    open_ballot(voting.client, ballot["id"])
    for member in member_ids(4):
        assert cast(voting.client, ballot["id"], member, "satisfied").status_code == 201
    assert voting.client.post(f"/v1/ballots/{ballot['id']}/close").status_code == 200
    (row,) = voting.outbox("ballot.closed")
    payload = Envelope.model_validate_json(row.body).payload
    assert payload["subject"] == {"department": DEPARTMENT, "evaluation_year": 2021, "vote_round": 2}


# --- a meeting created while the event is handled (database that really commits) ----


def _agenda_of(v, meeting_id: str) -> list[dict]:
    resp = v.client.get(f"/v1/meetings/{meeting_id}/agenda")
    assert resp.status_code == 200, resp.text
    return resp.json()["items"]


def test_event_arriving_while_the_next_meeting_is_being_created(backend, fresh_database_url):
    with committed_voting(fresh_database_url(backend, "voting_rereport_a")) as v:
        unsatisfied = create_meeting(v.client, number="第四十四次会议", held_on="2021-02-26")
        at_commit, release = threading.Event(), threading.Event()
        gate_commits(v, "/v1/meetings", at_commit, release)

        creating = Background(lambda: create_meeting(v.client, number="第四十五次会议", held_on="2021-04-28"))
        creating.start()
        assert at_commit.wait(10)
        # The new meeting is written but not committed when tracking's event is handled.
        handling = Background(handle_once, v.db, InboxMessage, handle_rereport_scheduled, rereport_envelope(unsatisfied))
        handling.start()
        handling.join(1.0)
        release.set()
        nxt = creating.outcome()
        assert handling.outcome() == HandleOutcome.HANDLED
        v.app.dependency_overrides.clear()

        items = _agenda_of(v, nxt["id"])
        assert len(items) == 1, "the re-report was put on no meeting"
        assert_rereport_item(items[0])
        later = create_meeting(v.client, number="第四十六次会议", held_on="2021-06-30")
        assert later["agenda"] == []


def test_next_meeting_created_while_the_event_is_being_handled(backend, fresh_database_url):
    with committed_voting(fresh_database_url(backend, "voting_rereport_b")) as v:
        unsatisfied = create_meeting(v.client, number="第四十四次会议", held_on="2021-02-26")
        handled, release = threading.Event(), threading.Event()

        def slow_handler(session, envelope):
            handle_rereport_scheduled(session, envelope)
            handled.set()
            assert release.wait(30)

        handling = Background(handle_once, v.db, InboxMessage, slow_handler, rereport_envelope(unsatisfied))
        handling.start()
        assert handled.wait(10)
        # The pending re-report is written but not committed when the next meeting is created.
        creating = Background(lambda: create_meeting(v.client, number="第四十五次会议", held_on="2021-04-28"))
        creating.start()
        creating.join(1.0)
        release.set()
        assert handling.outcome() == HandleOutcome.HANDLED
        nxt = creating.outcome()

        items = _agenda_of(v, nxt["id"])
        assert len(items) == 1, "the re-report was put on no meeting"
        assert_rereport_item(items[0])
        later = create_meeting(v.client, number="第四十六次会议", held_on="2021-06-30")
        assert later["agenda"] == []
