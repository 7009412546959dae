"""services/voting/domain/tally.py: counting one-choice ballots and the quorum rule."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.voting.domain.tally import SATISFACTION_OPTIONS, BallotTally, has_quorum, tally_single_choice


def test_satisfaction_options_and_their_chinese_labels():
    assert list(SATISFACTION_OPTIONS.items()) == [
        ("satisfied", "满意"),
        ("basically_satisfied", "基本满意"),
        ("unsatisfied", "不满意"),
    ]


def test_counts_every_option_and_keeps_their_order():
    tally = tally_single_choice(
        ["unsatisfied", "satisfied", "satisfied", "basically_satisfied", "satisfied"], SATISFACTION_OPTIONS
    )
    assert tally == BallotTally(counts={"satisfied": 3, "basically_satisfied": 1, "unsatisfied": 1}, invalid=0, votes_cast=5)
    assert list(tally.counts) == ["satisfied", "basically_satisfied", "unsatisfied"]


def test_choices_outside_the_options_are_invalid_ballots():
    tally = tally_single_choice(["satisfied", "very_satisfied", "", "满意", "unsatisfied", "SATISFIED"], SATISFACTION_OPTIONS)
    assert tally.counts == {"satisfied": 1, "basically_satisfied": 0, "unsatisfied": 1}
    assert tally.invalid == 4
    assert tally.votes_cast == 6


def test_no_ballots_gives_zero_for_every_option():
    tally = tally_single_choice([], SATISFACTION_OPTIONS)
    assert tally == BallotTally(counts={"satisfied": 0, "basically_satisfied": 0, "unsatisfied": 0}, invalid=0, votes_cast=0)


def test_options_may_be_any_iterable_even_a_generator():
    tally = tally_single_choice(iter(["yes", "no", "yes", "abstain"]), (o for o in ["yes", "no", "abstain"]))
    assert tally.counts == {"yes": 2, "no": 1, "abstain": 1}
    assert (tally.invalid, tally.votes_cast) == (0, 4)


@pytest.mark.parametrize(
    ("present", "members_total", "expected"),
    [
        (2, 4, False),  # exactly half is not more than half
        (3, 4, True),
        (2, 5, False),
        (3, 5, True),
        (0, 1, False),
        (1, 1, True),
        (0, 0, False),  # no members: never a quorum
        (1, 0, False),
        (30, 60, False),
        (31, 60, True),
    ],
)
def test_quorum_is_more_than_half_of_all_members(present, members_total, expected):
    assert has_quorum(present, members_total) is expected


option_codes = st.sampled_from(list(SATISFACTION_OPTIONS) + ["invalid", "满意", ""])


@given(choices=st.lists(st.one_of(option_codes, st.text(max_size=8)), max_size=200))
def test_counts_plus_invalid_equals_ballots_cast(choices):
    tally = tally_single_choice(choices, SATISFACTION_OPTIONS)
    assert sum(tally.counts.values()) + tally.invalid == tally.votes_cast == len(choices)
    assert set(tally.counts) == set(SATISFACTION_OPTIONS)
    seen = Counter(choices)
    assert all(tally.counts[code] == seen[code] for code in SATISFACTION_OPTIONS)
    assert tally.invalid == sum(n for code, n in seen.items() if code not in SATISFACTION_OPTIONS)


@given(members_total=st.integers(min_value=1, max_value=500), data=st.data())
def test_quorum_matches_strict_majority_and_is_monotonic(members_total, data):
    present = data.draw(st.integers(min_value=0, max_value=members_total))
    assert has_quorum(present, members_total) is (present > members_total / 2)
    if present < members_total:
        assert has_quorum(present + 1, members_total) >= has_quorum(present, members_total)
