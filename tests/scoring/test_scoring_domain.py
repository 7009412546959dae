"""Pure rules of scoring: net complaints, normalisation, composite, slate, sensitivity."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.scoring.domain.complaints import EXCLUSIONS, WorkOrderFacts, classify, net_complaints
from services.scoring.domain.composite import (
    DEFAULT_WEIGHTS,
    choose_slate,
    composite_ranking,
    normalise_min_max,
    normalise_rank,
    sensitivity,
    shifted_weights,
    slate_bounds,
)

EDU, CIV, PLAN, HOUSE = "教育局", "民政局", "自然资源和规划局", "住房和城乡建设局"

# The worked example (hand-computed, min-max):
#   net complaints 100/50/0/25      → 100/50/0/25     × 35%
#   NPC deputies   10/30/20/10      → 0/100/50/0      × 20%
#   committees     5/5/15/10        → 0/0/100/50      × 20%
#   districts      0/8/4/2          → 0/100/50/25     × 15%
#   public         300/100/200/500  → 50/0/25/100     × 10%
# 教育局 35+0+0+0+5 = 40; 民政局 17.5+20+0+15+0 = 52.5;
# 规划局 0+10+20+7.5+2.5 = 40; 住建局 8.75+0+10+3.75+10 = 32.5
RAW = {
    "net_complaints": {EDU: 100, CIV: 50, PLAN: 0, HOUSE: 25},
    "npc_deputies": {EDU: 10, CIV: 30, PLAN: 20, HOUSE: 10},
    "working_committees": {EDU: 5, CIV: 5, PLAN: 15, HOUSE: 10},
    "districts_and_enterprises": {EDU: 0, CIV: 8, PLAN: 4, HOUSE: 2},
    "public": {EDU: 300, CIV: 100, PLAN: 200, HOUSE: 500},
}
CANDIDATES = [EDU, CIV, PLAN, HOUSE]


def test_worked_example_ranking_explanation_and_slate():
    ranking = composite_ranking(CANDIDATES, RAW, DEFAULT_WEIGHTS)
    assert [(r.rank, r.department, r.score) for r in ranking] == [
        (1, CIV, 52.5),
        (2, EDU, 40.0),  # tied with 规划局: same rank, listed by name
        (2, PLAN, 40.0),
        (4, HOUSE, 32.5),
    ]
    house = ranking[3].as_dict()["explanation"]
    assert [(e["raw"], e["normalised"], e["weight"], e["contribution"]) for e in house] == [
        (25, 25, 35, 8.75),
        (10, 0, 20, 0),
        (10, 50, 20, 10),
        (2, 25, 15, 3.75),
        (500, 100, 10, 10),
    ]
    slate = choose_slate(ranking, seats=2)  # 2 seats, 20–50% → exactly 3
    assert slate.departments == (CIV, EDU, PLAN)
    assert not slate.tie_at_cutoff


def test_missing_candidate_in_a_source_counts_zero():
    ranking = composite_ranking([EDU, CIV], {"public": {EDU: 10}}, {"public": 100})
    assert [(r.department, r.score) for r in ranking] == [(EDU, 100.0), (CIV, 0.0)]


def test_min_max_and_rank_normalisation():
    assert normalise_min_max({"a": 2, "b": 4, "c": 10}) == {"a": 0, "b": 25, "c": 100}
    assert normalise_min_max({"a": 3, "b": 3}) == {"a": 0, "b": 0}
    # Rank: an outlier no longer squeezes the others; ties share the average rank.
    assert normalise_rank({"a": 2, "b": 4, "c": 1000}) == {"a": 0, "b": 50, "c": 100}
    assert normalise_rank({"a": 1, "b": 5, "c": 5, "d": 9}) == {"a": 0, "b": 50, "c": 50, "d": 100}


def test_rank_option_changes_the_ranking():
    raw = {"net_complaints": {"a": 1000, "b": 20, "c": 10}, "public": {"a": 0, "b": 100, "c": 50}}
    weights = {"net_complaints": 60, "public": 40}
    # min-max: a 60, b 0.6+40 = 40.6..., c 0.3+20; rank: a 60, b 30+40=70, c 0+20
    assert [r.department for r in composite_ranking(["a", "b", "c"], raw, weights)] == ["a", "b", "c"]
    assert [r.department for r in composite_ranking(["a", "b", "c"], raw, weights, "rank")] == ["b", "a", "c"]


@pytest.mark.parametrize(("seats", "bounds"), [(6, (8, 9)), (2, (3, 3)), (1, (2, 2)), (10, (12, 15))])
def test_slate_bounds(seats, bounds):
    assert slate_bounds(seats) == bounds


def test_slate_of_six_seats_takes_eight_and_a_tie_at_the_cut_extends_to_nine():
    names = [f"d{i}" for i in range(12)]
    raw = {"public": {n: 100 - i for i, n in enumerate(names)}}
    ranking = composite_ranking(names, raw, {"public": 100})
    assert choose_slate(ranking, 6).departments == tuple(names[:8])
    raw["public"]["d8"] = raw["public"]["d7"]  # d8 ties with the eighth
    ranking = composite_ranking(names, raw, {"public": 100})
    assert choose_slate(ranking, 6).departments == tuple(names[:9])
    raw["public"]["d9"] = raw["public"]["d7"]  # a three-way tie the largest slate cannot hold
    ranking = composite_ranking(names, raw, {"public": 100})
    slate = choose_slate(ranking, 6)
    assert len(slate.departments) == 9 and slate.tie_at_cutoff


def test_shifted_weights_keep_sum_and_proportions():
    moved = shifted_weights(DEFAULT_WEIGHTS, "net_complaints", 5)
    assert moved["net_complaints"] == 40
    assert sum(moved.values()) == pytest.approx(100)
    assert moved["npc_deputies"] == pytest.approx(20 * 60 / 65)
    assert shifted_weights(DEFAULT_WEIGHTS, "public", -11) is None


def test_sensitivity_finds_the_move_that_changes_the_slate():
    # Two seats, three on the slate; 住建局 (32.5) is 7.5 behind the tied pair.
    result = {s.source: s for s in sensitivity(CANDIDATES, RAW, DEFAULT_WEIGHTS, seats=2)}
    public = result["public"]
    # Raising public's weight favours 住建局 (normalised 100 there); by +5 it has not caught up.
    assert public.increase_until_change is not None and public.increase_until_change > 5
    assert set(public.slate_plus_5) == {CIV, EDU, PLAN}
    assert public.decrease_until_change is None or public.decrease_until_change > 0
    # Brute-force check of the reported threshold: just before it the slate holds, at it it changes.
    threshold = public.increase_until_change
    before = composite_ranking(CANDIDATES, RAW, shifted_weights(DEFAULT_WEIGHTS, "public", threshold - 0.5))
    at = composite_ranking(CANDIDATES, RAW, shifted_weights(DEFAULT_WEIGHTS, "public", threshold))
    assert set(choose_slate(before, 2).departments) == {CIV, EDU, PLAN}
    assert set(choose_slate(at, 2).departments) != {CIV, EDU, PLAN}


raw_values = st.dictionaries(st.sampled_from(list("abcdefgh")), st.integers(0, 10_000), min_size=1)


@given(raw_values)
def test_normalised_values_stay_within_0_and_100(raw):
    for method in (normalise_min_max, normalise_rank):
        values = method(raw).values()
        assert all(0 <= v <= 100 for v in values)


@given(st.fixed_dictionaries({s: raw_values for s in DEFAULT_WEIGHTS}))
def test_contributions_add_up_and_scores_stay_within_0_and_100(raw):
    candidates = sorted({d for by in raw.values() for d in by})
    for r in composite_ranking(candidates, raw, DEFAULT_WEIGHTS):
        assert 0 <= r.score <= 100 + 1e-9
        assert sum(c.contribution for c in r.contributions) == pytest.approx(r.score)


# --- net complaints ----------------------------------------------------------


def order(kind="complaint", dept=EDU, **kw) -> WorkOrderFacts:
    return WorkOrderFacts(request_type=kind, final_department=dept, **kw)


@pytest.mark.parametrize(
    ("facts", "reason"),
    [
        (order("complaint"), None),
        (order("report"), None),
        (order("consultation"), "consultation"),
        (order("suggestion"), "suggestion"),
        (order("help"), "help"),
        (order(valid=False), "invalid"),
        (order(duplicate_of="GD1"), "duplicate"),
        (order(unfounded=True), "unfounded"),
        # The first exclusion wins, so each order is counted once.
        (order("consultation", valid=False), "consultation"),
        (order(valid=False, duplicate_of="GD1"), "invalid"),
    ],
)
def test_each_exclusion(facts, reason):
    assert classify(facts) == reason


def test_net_complaints_count_every_exclusion_and_redispatch():
    orders = [
        order("complaint"),
        order("report"),
        order("consultation"),
        order(duplicate_of="X"),
        order(unfounded=True),
        # Sent to 民政局 first, returned, ended with 教育局: 民政局 records a re-dispatch away.
        order("complaint", returned_by=(CIV,)),
        order("complaint", dept=CIV),
    ]
    result = net_complaints(orders)
    edu, civ = result[EDU], result[CIV]
    assert edu.net == 3 and edu.received == 6
    assert edu.excluded == {**{e: 0 for e in EXCLUSIONS}, "consultation": 1, "duplicate": 1, "unfounded": 1}
    assert civ.net == 1 and civ.excluded["redispatched_away"] == 1 and civ.received == 2


@given(
    st.lists(
        st.builds(
            WorkOrderFacts,
            request_type=st.sampled_from(["consultation", "help", "complaint", "report", "suggestion"]),
            final_department=st.sampled_from([EDU, CIV, None]),
            valid=st.booleans(),
            duplicate_of=st.sampled_from([None, "GD1"]),
            unfounded=st.booleans(),
            returned_by=st.lists(st.sampled_from([EDU, CIV, PLAN]), max_size=2).map(tuple),
        )
    )
)
def test_net_plus_exclusions_equal_orders_received(orders):
    for entry in net_complaints(orders).values():
        assert entry.net + sum(entry.excluded.values()) == entry.received


WRITTEN = {"市教育局": EDU, EDU: EDU, "市民政局": CIV, CIV: CIV, PLAN: PLAN}


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["consultation", "help", "complaint", "report", "suggestion"]),
            st.sampled_from([*WRITTEN, "无名单位", ""]),
            st.booleans(),
            st.booleans(),
            st.booleans(),
            st.lists(st.sampled_from([*WRITTEN, "无名单位"]), max_size=3),
            st.integers(min_value=1, max_value=5),
        )
    )
)
def test_counted_groups_give_what_counting_each_order_gives(groups):
    """Groups as the day counts keep them (names as written, counts) against the
    same orders one by one through the per-order rules."""
    from services.scoring.domain.complaints import net_complaints_from_counts

    canonical = WRITTEN.get
    grouped = [(final, kind, valid, duplicate, unfounded, n) for kind, final, valid, duplicate, unfounded, _, n in groups]
    returns = [(final, "|".join(returned), n) for _, final, *_, returned, n in groups if returned]
    counted, unmatched = net_complaints_from_counts(grouped, returns, canonical)
    orders = [
        WorkOrderFacts(kind, canonical(final), valid, "GD1" if duplicate else None, unfounded, tuple(d for r in returned if (d := canonical(r))))
        for kind, final, valid, duplicate, unfounded, returned, n in groups
        for _ in range(n)
    ]
    expected = net_complaints(orders)
    assert {d: (c.received, c.net, c.excluded) for d, c in counted.items()} == {d: (c.received, c.net, c.excluded) for d, c in expected.items()}
    expected_unmatched: dict[str, int] = {}
    for _, final, *_, n in groups:
        if canonical(final) is None:
            expected_unmatched[final] = expected_unmatched.get(final, 0) + n
    assert unmatched == expected_unmatched
