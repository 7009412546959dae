"""Issue 3, ballot lifecycle: publish, void and re-run, show of hands, quorum lost
mid-ballot, non-voting attendees (列席), and votes sealed until close."""

from __future__ import annotations

from sqlalchemy import select, text

from shared.messaging.events import Envelope

from ._support import (
    assert_problem,
    cast,
    check_in,
    committed_voting,
    count_rows,
    create_ballot,
    create_meeting,
    get_ballot,
    member_ids,
    open_ballot,
    open_meeting_ballot,
)


def closed_events(voting) -> list[Envelope]:
    return [Envelope.model_validate_json(row.body) for row in voting.outbox("ballot.closed")]


def close(voting, ballot_id: str) -> dict:
    resp = voting.client.post(f"/v1/ballots/{ballot_id}/close")
    assert resp.status_code == 200, resp.text
    return resp.json()


def void(voting, ballot_id: str, reason: str = "表决器故障"):
    return voting.client.post(f"/v1/ballots/{ballot_id}/void", json={"reason": reason})


# --- published --------------------------------------------------------------------


def test_publish_a_closed_ballot_keeps_its_result(voting):
    _, ballot = open_meeting_ballot(voting.client, members=3)
    assert cast(voting.client, ballot["id"], "m01", "satisfied").status_code == 201
    closed = close(voting, ballot["id"])
    resp = voting.client.post(f"/v1/ballots/{ballot['id']}/publish")
    assert resp.status_code == 200, resp.text
    published = resp.json()
    assert published["status"] == "published"
    assert published["published_at"] is not None
    assert published["results"] == closed["results"]
    assert published["votes_cast"] == 1
    assert get_ballot(voting.client, ballot["id"]) == published
    # Published is final: no second publish, no vote, no void; still one announcement.
    assert_problem(voting.client.post(f"/v1/ballots/{ballot['id']}/publish"), 409, "ballot-state")
    assert_problem(cast(voting.client, ballot["id"], "m02", "satisfied"), 409, "ballot-not-open")
    assert_problem(void(voting, ballot["id"]), 409, "ballot-closed")
    assert_problem(voting.client.post(f"/v1/ballots/{ballot['id']}/close"), 409, "ballot-closed")
    assert get_ballot(voting.client, ballot["id"]) == published
    assert len(closed_events(voting)) == 1


def test_only_a_closed_ballot_can_be_published(voting):
    meeting, ballot = open_meeting_ballot(voting.client, members=3)
    draft = create_ballot(voting.client, meeting["id"])
    for ballot_id in (ballot["id"], draft["id"]):
        assert_problem(voting.client.post(f"/v1/ballots/{ballot_id}/publish"), 409, "ballot-state")
    assert get_ballot(voting.client, ballot["id"])["status"] == "open"
    assert get_ballot(voting.client, draft["id"])["status"] == "draft"


# --- void and re-run ----------------------------------------------------------------


def test_void_an_open_ballot_keeps_the_record_and_announces_nothing(voting):
    _, ballot = open_meeting_ballot(voting.client, members=3)
    receipt = cast(voting.client, ballot["id"], "m01", "unsatisfied").json()["receipt_code"]
    resp = void(voting, ballot["id"], "表决器故障，部分委员无法投票")
    assert resp.status_code == 200, resp.text
    voided = resp.json()
    assert voided["status"] == "void"
    assert voided["void_reason"] == "表决器故障，部分委员无法投票"
    assert voided["voided_at"] is not None
    assert voided["results"] is None and voided["rerun_ballot_id"] is None
    assert voided["votes_cast"] == 1
    # Nothing more happens on a voided ballot, and its vote no longer counts.
    assert_problem(cast(voting.client, ballot["id"], "m02", "satisfied"), 409, "ballot-not-open")
    assert_problem(voting.client.post(f"/v1/ballots/{ballot['id']}/close"), 409, "ballot-void")
    assert_problem(voting.client.post(f"/v1/ballots/{ballot['id']}/open"), 409, "ballot-void")
    assert_problem(void(voting, ballot["id"]), 409, "ballot-void")
    assert voting.client.get(f"/v1/ballots/{ballot['id']}/receipts/{receipt}").json()["counted"] is False
    assert closed_events(voting) == []
    # The sealing key is gone, so the sealed vote left behind can never be opened.
    with voting.db.session() as session:
        assert session.get(voting.models.Ballot, ballot["id"]).wrapped_seal_key is None
        (row,) = session.scalars(select(voting.models.BallotVote).where(voting.models.BallotVote.ballot_id == ballot["id"]))
        assert row.choice is None and row.sealed


def test_void_needs_a_reason(voting):
    _, ballot = open_meeting_ballot(voting.client, members=3)
    for body in ({}, {"reason": ""}):
        problem = assert_problem(voting.client.post(f"/v1/ballots/{ballot['id']}/void", json=body), 422, "validation-error")
        assert [e["field"] for e in problem["errors"]] == ["reason"]
    assert get_ballot(voting.client, ballot["id"])["status"] == "open"


def test_a_closed_ballot_cannot_be_voided(voting):
    _, ballot = open_meeting_ballot(voting.client, members=3)
    closed = close(voting, ballot["id"])
    assert_problem(void(voting, ballot["id"]), 409, "ballot-closed")
    assert get_ballot(voting.client, ballot["id"]) == closed


def test_rerun_of_a_voided_ballot_keeps_both_records(voting):
    meeting, ballot = open_meeting_ballot(voting.client, members=3, department="市生态环境局", vote_round=2)
    assert cast(voting.client, ballot["id"], "m01", "unsatisfied").status_code == 201
    assert void(voting, ballot["id"]).status_code == 200
    resp = voting.client.post(f"/v1/ballots/{ballot['id']}/rerun")
    assert resp.status_code == 201, resp.text
    rerun = resp.json()
    assert rerun["id"] != ballot["id"]
    assert rerun["status"] == "draft"
    assert rerun["rerun_of_ballot_id"] == ballot["id"]
    for field in ("meeting_id", "kind", "title", "department", "evaluation_year", "vote_round", "members_total"):
        assert rerun[field] == ballot[field], field
    assert rerun["votes_cast"] == 0
    voided = get_ballot(voting.client, ballot["id"])
    assert voided["status"] == "void" and voided["rerun_ballot_id"] == rerun["id"]

    # The same member votes again on the re-run; only the re-run is announced.
    open_ballot(voting.client, rerun["id"])
    assert cast(voting.client, rerun["id"], "m01", "satisfied").status_code == 201
    result = close(voting, rerun["id"])
    assert {r["code"]: r["votes"] for r in result["results"]} == {"satisfied": 1, "basically_satisfied": 0, "unsatisfied": 0}
    (event,) = closed_events(voting)
    assert event.payload["ballot_id"] == rerun["id"]
    assert event.payload["subject"] == {"department": "市生态环境局", "evaluation_year": 2021, "vote_round": 2}
    assert count_rows(voting.db, voting.models.Ballot, meeting_id=meeting["id"]) == 2


def test_rerun_only_once_and_only_when_void(voting):
    meeting, ballot = open_meeting_ballot(voting.client, members=3)
    assert_problem(voting.client.post(f"/v1/ballots/{ballot['id']}/rerun"), 409, "ballot-not-void")
    assert void(voting, ballot["id"]).status_code == 200
    assert voting.client.post(f"/v1/ballots/{ballot['id']}/rerun").status_code == 201
    assert_problem(voting.client.post(f"/v1/ballots/{ballot['id']}/rerun"), 409, "already-rerun")
    assert count_rows(voting.db, voting.models.Ballot, meeting_id=meeting["id"]) == 2


def test_a_draft_can_be_voided(voting):
    meeting = create_meeting(voting.client, members=3)
    draft = create_ballot(voting.client, meeting["id"])
    voided = void(voting, draft["id"], "议程调整").json()
    assert voided["status"] == "void" and voided["opened_at"] is None


# --- show of hands ----------------------------------------------------------------


def test_show_of_hands_on_a_draft_closes_and_announces_marked_as_such(voting):
    meeting = create_meeting(voting.client, members=7)
    check_in(voting.client, meeting["id"], member_ids(7)[:6])
    ballot = create_ballot(voting.client, meeting["id"])
    record = {"counts": {"satisfied": 3, "basically_satisfied": 2, "unsatisfied": 0}, "invalid": 1}
    resp = voting.client.post(f"/v1/ballots/{ballot['id']}/show-of-hands", json=record)
    assert resp.status_code == 200, resp.text
    closed = resp.json()
    assert closed["status"] == "closed" and closed["show_of_hands"] is True
    assert {r["code"]: r["votes"] for r in closed["results"]} == record["counts"]
    assert closed["invalid"] == 1 and closed["votes_cast"] == 6
    assert closed["present_at_close"] == 6 and closed["quorum_at_close"] is True
    assert count_rows(voting.db, voting.models.BallotVote, ballot_id=ballot["id"]) == 0
    (event,) = closed_events(voting)
    assert event.payload["tally"] == {
        "counts": record["counts"], "invalid": 1, "votes_cast": 6, "present": 6, "members_total": 7, "show_of_hands": True,
    }
    assert event.key == "市住房和城乡建设局"


def test_show_of_hands_counts_up_to_those_present_and_no_more(voting):
    meeting = create_meeting(voting.client, members=5)
    check_in(voting.client, meeting["id"], member_ids(5)[:3])
    ballot = create_ballot(voting.client, meeting["id"])
    over = {"counts": {"satisfied": 2, "unsatisfied": 1}, "invalid": 1}  # 4 hands, 3 present
    body = assert_problem(voting.client.post(f"/v1/ballots/{ballot['id']}/show-of-hands", json=over), 422,
                          "show-of-hands-exceeds-present")
    assert body["present"] == 3
    assert get_ballot(voting.client, ballot["id"])["status"] == "draft"
    assert closed_events(voting) == []
    exact = {"counts": {"satisfied": 2, "unsatisfied": 1}}
    assert voting.client.post(f"/v1/ballots/{ballot['id']}/show-of-hands", json=exact).status_code == 200
    assert len(closed_events(voting)) == 1


def test_show_of_hands_refusals_change_nothing(voting):
    meeting = create_meeting(voting.client, members=4)
    check_in(voting.client, meeting["id"], member_ids(4)[:2])
    ballot = create_ballot(voting.client, meeting["id"])
    good = {"counts": {"satisfied": 2}}
    assert_problem(voting.client.post(f"/v1/ballots/{ballot['id']}/show-of-hands", json=good), 409, "no-quorum")
    check_in(voting.client, meeting["id"], ["m03"])
    assert_problem(voting.client.post(f"/v1/ballots/{ballot['id']}/show-of-hands", json={"counts": {"very_satisfied": 1}}),
                   422, "unknown-option")
    assert_problem(voting.client.post(f"/v1/ballots/{ballot['id']}/show-of-hands", json={"counts": {"satisfied": -1}}),
                   422, "validation-error")
    open_ballot(voting.client, ballot["id"])
    assert cast(voting.client, ballot["id"], "m01", "satisfied").status_code == 201
    assert_problem(voting.client.post(f"/v1/ballots/{ballot['id']}/show-of-hands", json=good), 409, "electronic-votes-exist")
    after = get_ballot(voting.client, ballot["id"])
    assert after["status"] == "open" and after["show_of_hands"] is False
    assert closed_events(voting) == []


def test_show_of_hands_on_an_open_ballot_without_votes(voting):
    _, ballot = open_meeting_ballot(voting.client, members=3)
    resp = voting.client.post(f"/v1/ballots/{ballot['id']}/show-of-hands", json={"counts": {"unsatisfied": 2}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["present_at_open"] == 3
    assert_problem(voting.client.post(f"/v1/ballots/{ballot['id']}/show-of-hands", json={"counts": {"unsatisfied": 2}}),
                   409, "ballot-closed")
    assert len(closed_events(voting)) == 1


# --- quorum lost mid-ballot --------------------------------------------------------------


def test_quorum_lost_mid_ballot_close_records_those_present(voting):
    meeting, ballot = open_meeting_ballot(voting.client, members=5, present=3)
    assert cast(voting.client, ballot["id"], "m01", "satisfied").status_code == 201
    resp = voting.client.post(f"/v1/meetings/{meeting['id']}/check-outs", json={"member_ids": ["m03"]})
    assert resp.json()["quorum"] is False
    # Those still present may vote; the close records who was there.
    assert cast(voting.client, ballot["id"], "m02", "unsatisfied").status_code == 201
    closed = close(voting, ballot["id"])
    assert (closed["present_at_open"], closed["present_at_close"], closed["quorum_at_close"]) == (3, 2, False)
    (event,) = closed_events(voting)
    assert (event.payload["tally"]["present"], event.payload["tally"]["members_total"]) == (2, 5)
    # A new ballot cannot open now.
    second = create_ballot(voting.client, meeting["id"], department="市教育局")
    assert_problem(voting.client.post(f"/v1/ballots/{second['id']}/open"), 409, "no-quorum")


# --- non-voting attendees (列席) -----------------------------------------------------------


def test_nonvoting_attendees_are_recorded_apart_and_never_count(voting):
    meeting = create_meeting(voting.client, members=5)
    check_in(voting.client, meeting["id"], member_ids(5)[:2])
    resp = voting.client.post(f"/v1/meetings/{meeting['id']}/nonvoting-attendees", json={"attendees": [
        {"name": "王副市长", "affiliation": "市人民政府"}, {"name": "李局长", "affiliation": "市住房和城乡建设局"},
    ]})
    assert resp.status_code == 200, resp.text
    detail = resp.json()
    assert [(a["name"], a["affiliation"]) for a in detail["nonvoting_attendees"]] == [
        ("王副市长", "市人民政府"), ("李局长", "市住房和城乡建设局"),
    ]
    assert (detail["members_total"], detail["present"], detail["quorum"]) == (5, 2, False)
    assert len(detail["members"]) == 5
    assert voting.client.get(f"/v1/meetings/{meeting['id']}").json()["nonvoting_attendees"] == detail["nonvoting_attendees"]
    assert_problem(voting.client.post(f"/v1/meetings/{meeting['id']}/nonvoting-attendees", json={"attendees": []}),
                   422, "validation-error")
    assert_problem(voting.client.post("/v1/meetings/nope/nonvoting-attendees", json={"attendees": [{"name": "王"}]}),
                   404, "not-found")


# --- sealed votes: no xmin link between who and what ------------------------------


def test_postgres_row_versions_do_not_link_voter_to_choice(fresh_database_url):
    """On Postgres each row carries the id of the transaction that wrote it (xmin).
    A participation and its vote are written together, so while open the vote holds
    only sealed text; the readable choices are all written by the close."""
    with committed_voting(fresh_database_url("postgres", "voting_xmin")) as v:
        _, ballot = open_meeting_ballot(v.client, members=4)
        for member, choice in (("m01", "satisfied"), ("m02", "unsatisfied"), ("m03", "satisfied")):
            assert cast(v.client, ballot["id"], member, choice).status_code == 201
        with v.db.session() as session:
            who = dict(session.execute(text(
                "SELECT xmin::text, member_id FROM ballot_participations WHERE ballot_id = :b"), {"b": ballot["id"]}).all())
            what = session.execute(text(
                "SELECT xmin::text, choice, sealed FROM ballot_votes WHERE ballot_id = :b"), {"b": ballot["id"]}).all()
        assert len(who) == 3
        assert {row[0] for row in what} == set(who)  # the link the sealing protects against
        assert all(row.choice is None and row.sealed for row in what)
        assert not any(c in row.sealed for row in what for c in ("satisfied", "unsatisfied"))

        close(v, ballot["id"])
        with v.db.session() as session:
            after = session.execute(text(
                "SELECT xmin::text, choice, sealed FROM ballot_votes WHERE ballot_id = :b"), {"b": ballot["id"]}).all()
            key = session.execute(text("SELECT wrapped_seal_key FROM ballots WHERE id = :b"), {"b": ballot["id"]}).scalar()
        assert sorted(row.choice for row in after) == ["satisfied", "satisfied", "unsatisfied"]
        assert all(row.sealed is None for row in after)
        assert len({row[0] for row in after}) == 1 and not {row[0] for row in after} & set(who)
        assert key is None


# --- agenda items entered by the clerk ------------------------------------------------


def test_agenda_items_in_order_with_their_kind(voting):
    meeting = create_meeting(voting.client, members=3)
    items = [
        {"kind": "competitive_selection", "title": "2021年度专项工作评议对象差额票决"},
        {"kind": "appointments", "title": "人事任免"},
        {"kind": "satisfaction", "title": "对市教育局专项工作报告进行满意度测评", "department": "市教育局", "evaluation_year": 2021},
    ]
    created = []
    for body in items:
        resp = voting.client.post(f"/v1/meetings/{meeting['id']}/agenda", json=body)
        assert resp.status_code == 201, resp.text
        created.append(resp.json())
    agenda = voting.client.get(f"/v1/meetings/{meeting['id']}/agenda").json()["items"]
    assert [(a["position"], a["kind"], a["title"]) for a in agenda] == [(i + 1, b["kind"], b["title"]) for i, b in enumerate(items)]
    # A satisfaction ballot takes department and year from its agenda item.
    check_in(voting.client, meeting["id"], member_ids(3))
    ballot = voting.client.post(f"/v1/meetings/{meeting['id']}/ballots", json={"agenda_item_id": created[2]["id"]}).json()
    assert (ballot["department"], ballot["evaluation_year"], ballot["agenda_item_id"]) == ("市教育局", 2021, created[2]["id"])
    assert_problem(voting.client.post(f"/v1/meetings/{meeting['id']}/agenda", json={"kind": "rereport_revote", "title": "x"}),
                   422, "validation-error")


# --- sealing: bound to the ballot, and the format before AES-GCM still closes ------


def _rekey(voting, ballot_id: str, data_key: bytes) -> None:
    """Give a ballot another data key, wrapped as the service wraps it."""
    from services.voting.ballots.service import _sealed_for, _wrap_key
    from services.voting.domain.seal import seal

    secret = voting.app.state.settings.ballot_seal_secret
    with voting.db.session() as session:
        ballot = session.get(voting.models.Ballot, ballot_id)
        ballot.wrapped_seal_key = seal(_wrap_key(secret), data_key, associated_data=_sealed_for(ballot))
        session.commit()


def _data_key_of(voting, ballot_id: str) -> bytes:
    from services.voting.ballots.service import _data_key

    with voting.db.session() as session:
        return _data_key(session.get(voting.models.Ballot, ballot_id), voting.app.state.settings.ballot_seal_secret)


def test_a_sealed_vote_moved_to_another_ballot_does_not_open_there(voting):
    """Even under the very same data key: the ballot id is the seal's associated data."""
    meeting, first = open_meeting_ballot(voting.client, members=3)
    second = create_ballot(voting.client, meeting["id"])
    open_ballot(voting.client, second["id"])
    _rekey(voting, second["id"], _data_key_of(voting, first["id"]))
    assert cast(voting.client, first["id"], "m01", "unsatisfied").status_code == 201
    assert cast(voting.client, second["id"], "m02", "satisfied").status_code == 201
    BallotVote = voting.models.BallotVote
    with voting.db.session() as session:
        session.execute(BallotVote.__table__.update().where(BallotVote.ballot_id == first["id"])
                        .values(ballot_id=second["id"]))
        session.commit()
    closed = close(voting, second["id"])
    votes = {r["code"]: r["votes"] for r in closed["results"]}
    assert votes["satisfied"] == 1 and votes["unsatisfied"] == 0
    assert closed["invalid"] == 1  # the moved row: counted, but as invalid


def test_a_ballot_sealed_before_the_upgrade_still_closes_with_its_votes(voting):
    """A ballot opened before AES-GCM: its key wrapped, and its votes sealed, the old way."""
    from services.voting.ballots.service import _WRAP_PURPOSE, _sealed_for
    from services.voting.domain.seal import server_key_v1, unseal
    from tests.voting.test_domain_rules import legacy_seal

    _, ballot = open_meeting_ballot(voting.client, members=4)
    for member, choice in (("m01", "satisfied"), ("m02", "unsatisfied"), ("m03", "unsatisfied")):
        assert cast(voting.client, ballot["id"], member, choice).status_code == 201
    key = _data_key_of(voting, ballot["id"])
    secret = voting.app.state.settings.ballot_seal_secret
    BallotVote = voting.models.BallotVote
    with voting.db.session() as session:
        row = session.get(voting.models.Ballot, ballot["id"])
        row.wrapped_seal_key = legacy_seal(server_key_v1(secret, _WRAP_PURPOSE), key)
        for vote in session.scalars(select(BallotVote).where(BallotVote.ballot_id == ballot["id"])):
            vote.sealed = legacy_seal(key, unseal(key, vote.sealed, associated_data=_sealed_for(row)))
        session.commit()
    # Still open after the upgrade: a vote cast now is sealed the new way, beside the old ones.
    assert cast(voting.client, ballot["id"], "m04", "basically_satisfied").status_code == 201
    with voting.db.session() as session:
        formats = sorted(v.sealed[:3] == "v2:" for v in session.scalars(
            select(BallotVote).where(BallotVote.ballot_id == ballot["id"])))
    assert formats == [False, False, False, True]
    closed = close(voting, ballot["id"])
    assert {r["code"]: r["votes"] for r in closed["results"]} == {
        "satisfied": 1, "basically_satisfied": 1, "unsatisfied": 2}
    assert closed["invalid"] == 0
