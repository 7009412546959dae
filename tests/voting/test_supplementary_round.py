"""The supplementary round (另行选举, Election Law art. 45): candidates in order of
their first-round votes, within the plan's competitive ratio (at least one more
than the seats), exactly two for one seat; a tie at the end of that list follows
the main round's rule (all in while the ratio allows, else the tied vote again)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.voting.domain.selection import (
    CompetitiveRatio,
    FollowUpRound,
    ListRunoff,
    decide,
    decide_list_runoff,
)
from shared.messaging.events import BallotClosed, Envelope

from ._support import get_ballot
from .test_selection_ballots import run_round, selection

NAMES = ["市教育局", "市民政局", "市自然资源和规划局", "市住房和城乡建设局", "市卫生健康委", "市市场监管局", "市交通运输局", "市城市管理局"]
A, B, C, D, E, F, G, H = NAMES
MAJORITY = "majority_of_members"


# --- pure rules ---------------------------------------------------------------------


def test_ratio_bounds_hand_computed():
    plan = CompetitiveRatio(20, 50)
    # seats: (fewest, most) — ceil(seats × 1.2) and floor(seats × 1.5), never fewer than seats + 1.
    assert {s: plan.bounds(s) for s in (1, 2, 3, 4, 5, 6)} == {1: (2, 2), 2: (3, 3), 3: (4, 4), 4: (5, 6), 5: (6, 7), 6: (8, 9)}
    assert CompetitiveRatio(0, 0).bounds(3) == (4, 4)  # still one more than the seats
    assert CompetitiveRatio(100, 100).bounds(2) == (4, 4)
    assert CompetitiveRatio(100, 100).bounds(1) == (2, 2)  # one seat: exactly two, whatever the ratio


def test_one_seat_left_puts_exactly_two_on_the_ballot():
    # 9 members, floor 5: A wins; B, C, D, E would all have stood again before.
    outcome = decide({A: 7, B: 4, C: 3, D: 2, E: 1}, NAMES[:5], 2, MAJORITY, 9)
    assert outcome.winners == [A]
    assert outcome.supplementary == FollowUpRound([B, C], 1)


def test_the_list_follows_first_round_votes_not_ballot_order():
    outcome = decide({A: 1, B: 2, C: 4, D: 3, E: 6}, NAMES[:5], 2, MAJORITY, 9)
    assert outcome.winners == [E]
    assert outcome.supplementary == FollowUpRound([C, D], 1)


def test_several_seats_take_the_ratios_fewest():
    # 9 members, 3 seats, only A passes: 2 seats left -> 3 candidates (ceil 2.4, floor 3.0).
    counts = {A: 6, B: 4, C: 4, D: 3, E: 2, F: 1, G: 0, H: 0}
    outcome = decide(counts, NAMES, 3, MAJORITY, 9)
    assert outcome.winners == [A] and outcome.supplementary == FollowUpRound([B, C, D], 2)
    # Nobody passes: 3 seats -> 4 candidates.
    outcome = decide({A: 4, B: 4, C: 3, D: 3, E: 2, F: 1, G: 0, H: 0}, NAMES, 3, MAJORITY, 9)
    assert outcome.winners == [] and outcome.supplementary == FollowUpRound([A, B, C, D], 3)


def test_fewer_runners_up_than_the_ratio_asks_all_stand():
    # 4 seats, 5 candidates, one winner: 3 seats left wants 4 and there are exactly 4.
    outcome = decide({A: 6, B: 4, C: 3, D: 2, E: 1}, NAMES[:5], 4, MAJORITY, 9)
    assert outcome.supplementary == FollowUpRound([B, C, D, E], 3)


def test_a_tie_at_the_end_of_the_list_comes_in_whole_while_the_ratio_allows():
    # 6 seats, 1 winner: 5 left -> fewest 6, most 7. The 6th and 7th runners-up tie: both stand (7 ≤ 7).
    names = [f"市局{i}" for i in range(10)]
    counts = dict(zip(names, [9, 4, 4, 4, 3, 3, 2, 2, 1, 0], strict=True))
    outcome = decide(counts, names, 6, MAJORITY, 9)
    assert outcome.winners == ["市局0"]
    assert outcome.supplementary == FollowUpRound(names[1:8], 5)


def test_a_tie_the_ratio_cannot_hold_goes_to_a_vote_among_the_tied():
    # One seat left: exactly two. B is second by votes; C and D tie for the other place.
    outcome = decide({A: 7, B: 4, C: 3, D: 3, E: 1}, NAMES[:5], 2, MAJORITY, 9)
    assert outcome.winners == [A] and outcome.supplementary is None and outcome.runoff is None
    assert outcome.list_runoff == ListRunoff([C, D], 1, placed=[B], seats=1)
    # The vote among them: C gets the place, the supplementary round is B against C.
    assert decide_list_runoff({C: 5, D: 4}, outcome.list_runoff).supplementary == FollowUpRound([B, C], 1)
    # Tied again: they vote again.
    again = decide_list_runoff({C: 4, D: 4}, outcome.list_runoff)
    assert again.supplementary is None and again.list_runoff == ListRunoff([C, D], 1, placed=[B], seats=1)
    # Three tied for both places: all three vote for two places.
    three = decide({A: 7, B: 3, C: 3, D: 3, E: 1}, NAMES[:5], 2, MAJORITY, 9)
    assert three.list_runoff == ListRunoff([B, C, D], 2, placed=[], seats=1)
    assert decide_list_runoff({B: 2, C: 5, D: 5}, three.list_runoff).supplementary == FollowUpRound([C, D], 1)
    partly = decide_list_runoff({B: 6, C: 2, D: 2}, three.list_runoff)
    assert partly.list_runoff == ListRunoff([C, D], 1, placed=[B], seats=1)


def test_a_list_runoff_wins_no_seat():
    round_ = ListRunoff([C, D], 1, placed=[B], seats=1)
    assert decide_list_runoff({C: 9, D: 0}, round_).winners == []


counts_st = st.lists(st.integers(0, 9), min_size=3, max_size=8)


@given(votes=counts_st, seats=st.integers(1, 6), lo=st.integers(0, 100), extra=st.integers(0, 100))
def test_supplementary_lists_respect_votes_and_the_ratio(votes, seats, lo, extra):
    names = NAMES[: len(votes)]
    seats = min(seats, len(names) - 1)
    counts = dict(zip(names, votes, strict=True))
    ratio = CompetitiveRatio(lo, lo + extra)
    outcome = decide(counts, names, seats, MAJORITY, 9, ratio)
    runners_up = [c for c in names if c not in outcome.winners]
    if outcome.supplementary is not None:
        listed, unfilled = outcome.supplementary.candidates, outcome.supplementary.seats
        fewest, most = ratio.bounds(unfilled)
        assert unfilled == seats - len(outcome.winners)
        assert len(listed) >= unfilled + 1
        assert len(listed) <= max(most, 0) or len(listed) == len(runners_up) <= fewest
        assert len(listed) >= min(fewest, len(runners_up))
        if unfilled == 1:
            assert len(listed) == 2
        # In order of first-round votes, and nobody left off has more votes than someone on.
        assert [counts[c] for c in listed] == sorted((counts[c] for c in listed), reverse=True)
        left_off = [c for c in runners_up if c not in listed]
        assert all(counts[o] < min(counts[c] for c in listed) for o in left_off)
    if outcome.list_runoff is not None:
        tie = outcome.list_runoff
        fewest, most = ratio.bounds(tie.seats)
        assert len({counts[c] for c in tie.candidates}) == 1 and len(tie.candidates) > tie.places
        assert all(counts[p] > counts[tie.candidates[0]] for p in tie.placed)
        assert len(tie.placed) + tie.places == fewest
        assert len(tie.placed) + len(tie.candidates) > most


@given(votes=st.lists(st.integers(0, 9), min_size=3, max_size=6), places=st.integers(1, 5), placed=st.integers(0, 2))
def test_a_list_runoff_fills_exactly_its_places_or_narrows_the_tie(votes, places, placed):
    tied = NAMES[2 : 2 + len(votes)]
    places = min(places, len(tied) - 1)
    round_ = ListRunoff(tied, places, placed=NAMES[:placed], seats=1)
    outcome = decide_list_runoff(dict(zip(tied, votes, strict=True)), round_)
    if outcome.supplementary is not None:
        assert len(outcome.supplementary.candidates) == placed + places
        assert outcome.supplementary.candidates[:placed] == NAMES[:placed]
    else:
        nxt = outcome.list_runoff
        assert nxt is not None and set(nxt.candidates) <= set(tied) and len(nxt.candidates) > nxt.places
        assert len(nxt.placed) + nxt.places == placed + places


# --- over HTTP ------------------------------------------------------------------------


def _events(voting) -> list[BallotClosed]:
    return [BallotClosed.from_envelope(Envelope.model_validate_json(r.body)) for r in voting.outbox("ballot.closed")]


def test_list_runoff_over_http(voting):
    # 9 members, 2 seats: A 7 wins; B 4 is listed; C 3 and D 3 tie for the last place on a two-candidate list.
    _, ballot = selection(voting, members=9, seats=2, candidates=NAMES[:5])
    closed = run_round(voting, ballot, [[A, B]] * 4 + [[A, C]] * 2 + [[A, D]] + [[C, D]] + [[D]])
    assert {r["code"]: r["votes"] for r in closed["results"]} == {A: 7, B: 4, C: 3, D: 3, E: 0}
    assert closed["winners"] == [A]
    tie = get_ballot(voting.client, closed["follow_up_ballot_id"])
    assert (tie["round_kind"], tie["candidates"], tie["seats"]) == ("list_runoff", [C, D], 1)
    assert (tie["supplementary_placed"], tie["supplementary_seats"], tie["parent_ballot_id"]) == ([B], 1, ballot["id"])
    assert "另行选举候选人平票" in tie["title"]

    after_tie = run_round(voting, tie, [[D]] * 5 + [[C]] * 4)
    assert after_tie["winners"] == []  # a place on the list, not a seat
    supplementary = get_ballot(voting.client, after_tie["follow_up_ballot_id"])
    assert (supplementary["round_kind"], supplementary["candidates"], supplementary["seats"]) == ("supplementary", [B, D], 1)
    final = run_round(voting, supplementary, [[D]] * 6 + [[B]] * 3)
    assert final["winners"] == [D]
    events = _events(voting)
    assert [(e.round_kind, e.winners) for e in events] == [("main", [A]), ("list_runoff", []), ("supplementary", [D])]


def test_the_ballot_keeps_the_ratio_it_was_given(voting):
    votes = [[A, B]] * 4 + [[A, C]] + [[C, D]] * 2 + [[D, E]] + [[E]]  # A 5 passes; B 4, C 3, D 3, E 2
    # The default 20–50 %: two seats left take three candidates.
    meeting, ballot = selection(voting, members=9, seats=3, candidates=NAMES)
    assert (ballot["surplus_min_percent"], ballot["surplus_max_percent"]) == (20, 50)
    closed = run_round(voting, ballot, votes)
    assert get_ballot(voting.client, closed["follow_up_ballot_id"])["candidates"] == [B, C, D]
    # 100 %: four.
    resp = voting.client.post(f"/v1/meetings/{meeting['id']}/selection-ballots", json={
        "evaluation_year": 2021, "candidates": NAMES, "seats": 3, "surplus_min_percent": 100, "surplus_max_percent": 100})
    assert resp.status_code == 201, resp.text
    ballot = resp.json()
    closed = run_round(voting, ballot, votes)
    assert closed["winners"] == [A]
    supplementary = get_ballot(voting.client, closed["follow_up_ballot_id"])
    assert (supplementary["candidates"], supplementary["seats"], supplementary["surplus_min_percent"]) == ([B, C, D, E], 2, 100)


def test_a_ratio_upside_down_is_refused(voting):
    from ._support import assert_problem, create_meeting

    meeting = create_meeting(voting.client, members=5)
    resp = voting.client.post(f"/v1/meetings/{meeting['id']}/selection-ballots", json={
        "evaluation_year": 2021, "candidates": NAMES[:4], "seats": 2, "surplus_min_percent": 60, "surplus_max_percent": 30})
    assert_problem(resp, 422, "inconsistent-request")
