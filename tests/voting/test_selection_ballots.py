"""Competitive selection (差额票决): candidates from the clerk or scoring's slate,
at most `seats` marks (more is an invalid ballot), the floor, runoffs among the tied,
supplementary rounds for unfilled seats, and ballot.closed for each round."""

from __future__ import annotations

import datetime as dt
import uuid

from hypothesis import given
from hypothesis import strategies as st

from services.voting.domain.selection import FollowUpRound, count_marks, decide
from services.voting.handlers import handle_score_computed
from shared.messaging.events import BallotClosed, Envelope, ScoreComputed
from shared.messaging.inbox import handle_once

from ._support import assert_problem, cast, check_in, create_meeting, get_ballot, member_ids, open_ballot
from ._support import mark as mark_as_member

DEPTS = ["市住房和城乡建设局", "市生态环境局", "市教育局", "市卫生健康委员会", "市交通运输局"]
A, B, C, D, E = DEPTS


# --- pure rules ---------------------------------------------------------------------


def test_count_marks_hand_computed():
    tally = count_marks([[A, B], [A], [], [A, B, C], None, [B, C]], DEPTS, seats=2)
    assert tally.counts == {A: 2, B: 2, C: 1, D: 0, E: 0}
    assert (tally.invalid, tally.votes_cast) == (2, 6)  # three marks for two seats; an unreadable ballot


def test_decide_hand_computed():
    members = 9  # floor: 5 votes or more
    assert decide({A: 7, B: 6, C: 5, D: 2, E: 0}, DEPTS, 2, "majority_of_members", members).winners == [A, B]
    # C and D tie at the cut-off for the last seat: a runoff between them for one seat.
    tie = decide({A: 7, B: 5, C: 5, D: 2, E: 0}, DEPTS, 2, "majority_of_members", members)
    assert tie.winners == [A] and tie.runoff == FollowUpRound([B, C], 1) and tie.supplementary is None
    # Only A passes the floor: one seat left, a supplementary round between the two next runners-up.
    short = decide({A: 5, B: 4, C: 4, D: 2, E: 0}, DEPTS, 2, "majority_of_members", members)
    assert short.winners == [A] and short.supplementary == FollowUpRound([B, C], 1) and short.runoff is None
    # Plurality: the top two whatever their share.
    assert decide({A: 5, B: 4, C: 3, D: 2, E: 0}, DEPTS, 2, "plurality", members).winners == [A, B]
    # A tie among candidates who would all fit is no tie.
    assert decide({A: 6, B: 6, C: 1, D: 0, E: 0}, DEPTS, 2, "majority_of_members", members).winners == [A, B]


@given(votes=st.lists(st.integers(0, 12), min_size=5, max_size=5), seats=st.integers(1, 4),
       rule=st.sampled_from(["majority_of_members", "plurality"]))
def test_decide_never_fills_more_than_the_seats_and_winners_beat_the_rest(votes, seats, rule):
    counts = dict(zip(DEPTS, votes, strict=True))
    outcome = decide(counts, DEPTS, seats, rule, members_total=12)
    pending = (outcome.runoff or outcome.supplementary).seats if (outcome.runoff or outcome.supplementary) else 0
    assert len(outcome.winners) + pending <= seats
    losers = [c for c in DEPTS if c not in outcome.winners]
    for winner in outcome.winners:
        assert all(counts[winner] > counts[loser] for loser in losers)
        if rule == "majority_of_members":
            assert 2 * counts[winner] > 12
    if outcome.runoff:
        assert len({counts[c] for c in outcome.runoff.candidates}) == 1
        assert len(outcome.runoff.candidates) > outcome.runoff.seats


# --- over HTTP ------------------------------------------------------------------------


def selection(voting, *, members: int = 9, present: int | None = None, **body) -> tuple[dict, dict]:
    meeting = create_meeting(voting.client, members=members)
    check_in(voting.client, meeting["id"], member_ids(members)[: present or members])
    resp = voting.client.post(f"/v1/meetings/{meeting['id']}/selection-ballots",
                              json={"evaluation_year": 2021, "candidates": DEPTS, "seats": 2} | body)
    assert resp.status_code == 201, resp.text
    return meeting, resp.json()


def mark(voting, ballot_id: str, member: str, marks: list[str]):
    return mark_as_member(voting.client, ballot_id, member, marks)


def run_round(voting, ballot: dict, ballots: list[list[str]]) -> dict:
    open_ballot(voting.client, ballot["id"])
    for member, marks in zip(member_ids(len(ballots)), ballots, strict=True):
        assert mark(voting, ballot["id"], member, marks).status_code == 201
    resp = voting.client.post(f"/v1/ballots/{ballot['id']}/close")
    assert resp.status_code == 200, resp.text
    return resp.json()


def selection_events(voting) -> list[BallotClosed]:
    return [BallotClosed.from_envelope(Envelope.model_validate_json(r.body)) for r in voting.outbox("ballot.closed")]


def test_winners_pass_the_floor_and_ballots_marking_too_many_are_invalid(voting):
    _, ballot = selection(voting)
    assert (ballot["kind"], ballot["status"], ballot["round_kind"], ballot["seats"]) == ("competitive_selection", "draft", "main", 2)
    assert ballot["candidates"] == DEPTS and ballot["floor_rule"] == "majority_of_members"
    # 9 members: A gets 5 (passes: 5 > 4.5), B gets 4 (fails at the boundary); one ballot marks three.
    ballots = [[A, B]] * 4 + [[A, C]] + [[C]] * 2 + [[]] + [[A, B, C]]
    closed = run_round(voting, ballot, ballots)
    assert {r["code"]: r["votes"] for r in closed["results"]} == {A: 5, B: 4, C: 3, D: 0, E: 0}
    assert (closed["invalid"], closed["votes_cast"]) == (1, 9)
    assert closed["winners"] == [A]
    # One seat unfilled: a supplementary round (另行选举) between the two next runners-up, created as a draft.
    supplementary = get_ballot(voting.client, closed["follow_up_ballot_id"])
    assert (supplementary["round_kind"], supplementary["status"], supplementary["seats"]) == ("supplementary", "draft", 1)
    assert supplementary["candidates"] == [B, C] and "另行选举" in supplementary["title"]
    assert supplementary["parent_ballot_id"] == ballot["id"]
    (event,) = selection_events(voting)
    assert event.ballot_kind == "competitive_selection"
    assert (event.seats, event.winners, event.round_kind, event.parent_ballot_id) == (2, [A], "main", None)
    assert event.evaluation_year == 2021
    assert [o.code for o in event.options] == DEPTS
    assert event.tally.counts == {A: 5, B: 4, C: 3, D: 0, E: 0} and event.tally.invalid == 1

    # The supplementary round fills the last seat and is announced pointing at its parent.
    final = run_round(voting, supplementary, [[B]] * 5 + [[C]] * 4)
    assert final["winners"] == [B] and final["follow_up_ballot_id"] is None
    second = selection_events(voting)[1]
    assert (second.round_kind, second.parent_ballot_id, second.seats, second.winners) == ("supplementary", ballot["id"], 1, [B])


def test_tie_below_the_floor_is_no_runoff_but_a_supplementary_round(voting):
    _, ballot = selection(voting, members=10, seats=2)
    ballots = [[A, B]] * 5 + [[A, C]] * 4 + [[C]]  # A 9, B 5, C 5: 5 is exactly half of 10, not more
    closed = run_round(voting, ballot, ballots)
    assert closed["winners"] == [A]
    supplementary = get_ballot(voting.client, closed["follow_up_ballot_id"])
    assert (supplementary["round_kind"], supplementary["candidates"], supplementary["seats"]) == ("supplementary", [B, C], 1)


def test_runoff_when_tied_candidates_pass_the_floor(voting):
    _, ballot = selection(voting, members=9, seats=2)
    ballots = [[A, B]] * 3 + [[A, C]] * 3 + [[B, C]] * 2 + [[A]]  # A 7, B 5, C 5, floor 5 > 4.5
    closed = run_round(voting, ballot, ballots)
    assert {r["code"]: r["votes"] for r in closed["results"]} == {A: 7, B: 5, C: 5, D: 0, E: 0}
    assert closed["winners"] == [A]
    runoff = get_ballot(voting.client, closed["follow_up_ballot_id"])
    assert (runoff["round_kind"], runoff["candidates"], runoff["seats"]) == ("runoff", [B, C], 1)
    assert "平票" in runoff["title"]
    # In the runoff a member still marks at most the runoff's seats; marking both is invalid.
    final = run_round(voting, runoff, [[C]] * 5 + [[B]] * 3 + [[B, C]])
    assert (final["winners"], final["invalid"]) == ([C], 1)
    events = selection_events(voting)
    assert [(e.round_kind, e.winners, e.parent_ballot_id) for e in events] == [("main", [A], None), ("runoff", [C], ballot["id"])]


def test_plurality_option(voting):
    _, ballot = selection(voting, members=9, seats=2, floor_rule="plurality")
    closed = run_round(voting, ballot, [[A, B]] * 3 + [[A, C]] + [[D]] * 5)
    assert closed["winners"] == [D, A]  # D 5, A 4; B 3 out
    assert closed["follow_up_ballot_id"] is None


def test_refusals_record_nothing(voting):
    meeting, ballot = selection(voting, members=3)
    open_ballot(voting.client, ballot["id"])
    assert_problem(mark(voting, ballot["id"], "m01", ["市财政局"]), 422, "unknown-candidate")
    assert_problem(mark(voting, ballot["id"], "m01", [A, A]), 422, "validation-error")
    assert_problem(cast(voting.client, ballot["id"], "m01", "satisfied"), 422, "validation-error")
    assert get_ballot(voting.client, ballot["id"])["votes_cast"] == 0
    assert_problem(voting.client.post(f"/v1/ballots/{ballot['id']}/show-of-hands", json={"counts": {A: 2}}),
                   409, "show-of-hands-not-allowed")
    # Not competitive: as many candidates as seats.
    assert_problem(voting.client.post(f"/v1/meetings/{meeting['id']}/selection-ballots",
                                      json={"evaluation_year": 2021, "candidates": [A, B], "seats": 2}), 422, "not-competitive")
    assert_problem(voting.client.post(f"/v1/meetings/{meeting['id']}/selection-ballots",
                                      json={"evaluation_year": 2021, "candidates": [A, B, A], "seats": 1}), 422, "validation-error")
    assert_problem(voting.client.post(f"/v1/meetings/{meeting['id']}/selection-ballots",
                                      json={"evaluation_year": 2021, "seats": 1}), 422, "validation-error")


# --- slate from scoring (score.computed) ----------------------------------------------


def slate_event(plan_id: str, slate: list[str], *, seats: int = 2, batch: int | None = 1,
                occurred_at: dt.datetime | None = None, computation_id: str | None = None) -> Envelope:
    event = ScoreComputed(computation_id=computation_id or str(uuid.uuid4()), kind="composite_ranking", plan_id=plan_id,
                          evaluation_year=2022, batch=batch, seats=seats, ranking=[{"department": d} for d in slate], slate=slate)
    envelope = event.envelope(producer="scoring", key=plan_id)
    if occurred_at is not None:
        envelope = envelope.model_copy(update={"occurred_at": occurred_at})
    return envelope


def deliver(voting, envelope: Envelope) -> str:
    return handle_once(voting.db, voting.models.InboxMessage, handle_score_computed, envelope)


def test_latest_slate_is_kept_per_plan_and_batch(voting):
    t0 = dt.datetime(2022, 2, 1, tzinfo=dt.UTC)
    deliver(voting, slate_event("plan-2022", [A, B, C], occurred_at=t0))
    newer = slate_event("plan-2022", [B, C, D, E], seats=3, occurred_at=t0 + dt.timedelta(hours=1))
    deliver(voting, newer)
    # An older computation arriving late, and the newer one re-announced under a new event id, change nothing.
    deliver(voting, slate_event("plan-2022", [E, D, C], occurred_at=t0 + dt.timedelta(minutes=30)))
    again = slate_event("plan-2022", [A, B, C], occurred_at=t0 + dt.timedelta(hours=2),
                        computation_id=ScoreComputed.model_validate(newer.payload).computation_id)
    deliver(voting, again)
    deliver(voting, slate_event("plan-2022", [A, E, C], batch=2, occurred_at=t0))
    resp = voting.client.get("/v1/slates/plan-2022", params={"batch": 1})
    assert resp.status_code == 200, resp.text
    assert (resp.json()["candidates"], resp.json()["seats"]) == ([B, C, D, E], 3)
    assert voting.client.get("/v1/slates/plan-2022", params={"batch": 2}).json()["candidates"] == [A, E, C]
    assert_problem(voting.client.get("/v1/slates/plan-2022", params={"batch": 3}), 404, "not-found")


def test_satisfaction_score_is_ignored(voting):
    event = ScoreComputed(computation_id="c1", kind="satisfaction")
    assert deliver(voting, event.envelope(producer="scoring", key="x")) is not None
    assert_problem(voting.client.get("/v1/slates/anything"), 404, "not-found")


def test_ballot_from_slate_takes_candidates_seats_and_plan(voting):
    deliver(voting, slate_event("plan-2022", [A, B, C, D], seats=3, batch=1))
    meeting = create_meeting(voting.client, members=5)
    check_in(voting.client, meeting["id"], member_ids(5))
    resp = voting.client.post(f"/v1/meetings/{meeting['id']}/selection-ballots", json={"slate": {"plan_id": "plan-2022", "batch": 1}})
    assert resp.status_code == 201, resp.text
    ballot = resp.json()
    assert (ballot["candidates"], ballot["seats"], ballot["plan_id"], ballot["batch"], ballot["evaluation_year"]) == (
        [A, B, C, D], 3, "plan-2022", 1, 2022)
    closed = run_round(voting, ballot, [[A, B, C]] * 3 + [[A, B, D]] * 2)
    assert closed["winners"] == [A, B, C]
    (event,) = selection_events(voting)
    assert (event.plan_id, event.batch, event.evaluation_year, event.winners) == ("plan-2022", 1, 2022, [A, B, C])
    assert_problem(voting.client.post(f"/v1/meetings/{meeting['id']}/selection-ballots", json={"slate": {"plan_id": "nope"}}),
                   404, "not-found")
