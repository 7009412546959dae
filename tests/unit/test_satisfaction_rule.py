"""The satisfaction grading rule (services/scoring/domain/satisfaction.py): pure, no I/O.

Brief §1.5: 满意 if 满意 votes > half of ALL members; else 基本满意 if
满意 + 基本满意 > half of all members; else 不满意. Configurable denominator
(members present, valid votes) and a two-grade variant.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.scoring.domain.satisfaction import (
    GRADE_LABELS,
    SatisfactionCount,
    SatisfactionRule,
    grade_satisfaction,
)

DENOMINATORS = ("all_members", "present", "valid_votes")
RANK = {"unsatisfied": 0, "basically_satisfied": 1, "satisfied": 2}


def count(satisfied: int, basically: int, unsatisfied: int, *, present: int | None = None, members: int = 60) -> SatisfactionCount:
    votes = satisfied + basically + unsatisfied
    return SatisfactionCount(
        satisfied=satisfied,
        basically_satisfied=basically,
        unsatisfied=unsatisfied,
        present=votes if present is None else present,
        members_total=members,
    )


# --- the default rule: against ALL members -----------------------------------


def test_default_rule_counts_against_all_members_with_three_grades() -> None:
    rule = SatisfactionRule()
    assert rule.denominator == "all_members"
    assert rule.grades == 3
    graded = grade_satisfaction(count(31, 0, 0, present=40))
    assert graded.denominator == 60
    assert graded.basis == "all_members"


def test_satisfied_votes_exactly_half_of_all_members_is_not_satisfied() -> None:
    # 60 members, 30 满意: exactly half is not "more than half"; 满意+基本满意 = 35 > 30.
    graded = grade_satisfaction(count(30, 5, 25))
    assert graded.grade == "basically_satisfied"
    assert graded.label == "基本满意"


def test_satisfied_votes_exactly_half_and_nothing_else_falls_to_unsatisfied() -> None:
    # 30 满意 + 0 基本满意 = 30, still only half: falls through both thresholds.
    assert grade_satisfaction(count(30, 0, 30)).grade == "unsatisfied"


def test_satisfied_votes_half_plus_one_is_satisfied() -> None:
    graded = grade_satisfaction(count(31, 0, 29))
    assert graded.grade == "satisfied"
    assert graded.label == "满意"


def test_odd_membership_half_rounds_up() -> None:
    # 61 members: more than half means at least 31.
    assert grade_satisfaction(count(30, 0, 0, members=61)).grade == "unsatisfied"
    assert grade_satisfaction(count(31, 0, 0, members=61)).grade == "satisfied"


def test_basically_satisfied_boundary_is_also_strictly_more_than_half() -> None:
    # 满意 20 + 基本满意 10 = 30 of 60: exactly half → 不满意.
    at_half = grade_satisfaction(count(20, 10, 25))
    assert at_half.grade == "unsatisfied"
    assert at_half.label == "不满意"
    # One more 基本满意 → more than half → 基本满意.
    assert grade_satisfaction(count(20, 11, 25)).grade == "basically_satisfied"


def test_absent_members_count_against_the_department_by_default() -> None:
    # 35 present, everyone present votes 满意 except 5; 30 满意 is only half of 60 members.
    graded = grade_satisfaction(count(30, 0, 5, present=35))
    assert graded.grade == "unsatisfied"
    assert graded.denominator == 60


@pytest.mark.parametrize("denominator", DENOMINATORS)
@pytest.mark.parametrize("grades", [2, 3])
def test_nobody_present_and_no_votes_is_unsatisfied(denominator: str, grades: int) -> None:
    rule = SatisfactionRule(denominator=denominator, grades=grades)
    graded = grade_satisfaction(count(0, 0, 0, present=0, members=60), rule)
    assert graded.grade == "unsatisfied"
    assert graded.basis == denominator


@pytest.mark.parametrize("denominator", DENOMINATORS)
def test_zero_members_is_unsatisfied_not_a_division_error(denominator: str) -> None:
    rule = SatisfactionRule(denominator=denominator)
    assert grade_satisfaction(count(0, 0, 0, present=0, members=0), rule).grade == "unsatisfied"


# --- configurable denominators -----------------------------------------------


def test_the_three_denominators_grade_the_same_counts_differently() -> None:
    # 60 members, 50 present, 30 valid votes: 16 满意, 10 基本满意, 4 不满意.
    counts = count(16, 10, 4, present=50, members=60)
    by_all = grade_satisfaction(counts, SatisfactionRule(denominator="all_members"))
    by_present = grade_satisfaction(counts, SatisfactionRule(denominator="present"))
    by_valid = grade_satisfaction(counts, SatisfactionRule(denominator="valid_votes"))

    # all members: 16 ≤ 30 and 26 ≤ 30.
    assert (by_all.grade, by_all.denominator, by_all.basis) == ("unsatisfied", 60, "all_members")
    # present: 16 ≤ 25 but 26 > 25.
    assert (by_present.grade, by_present.denominator, by_present.basis) == ("basically_satisfied", 50, "present")
    # valid votes: 16 > 15.
    assert (by_valid.grade, by_valid.denominator, by_valid.basis) == ("satisfied", 30, "valid_votes")


def test_valid_votes_are_the_three_choices_summed() -> None:
    assert count(7, 5, 3, present=20).valid_votes == 15


# --- two grades only ---------------------------------------------------------


def test_two_grade_rule_turns_basically_satisfied_into_unsatisfied() -> None:
    counts = count(20, 20, 10)
    assert grade_satisfaction(counts, SatisfactionRule(grades=3)).grade == "basically_satisfied"
    assert grade_satisfaction(counts, SatisfactionRule(grades=2)).grade == "unsatisfied"
    assert grade_satisfaction(count(31, 0, 0), SatisfactionRule(grades=2)).grade == "satisfied"


@st.composite
def satisfaction_counts(draw, min_unsatisfied: int = 0) -> SatisfactionCount:
    """Plausible tallies: votes ≤ present ≤ members."""
    members = draw(st.integers(min_unsatisfied, 200))
    present = draw(st.integers(min_unsatisfied, members))
    unsatisfied = draw(st.integers(min_unsatisfied, present))
    satisfied = draw(st.integers(0, present - unsatisfied))
    basically = draw(st.integers(0, present - unsatisfied - satisfied))
    return SatisfactionCount(satisfied, basically, unsatisfied, present, members)


@settings(max_examples=300, deadline=None)
@given(satisfaction_counts(), st.sampled_from(DENOMINATORS))
def test_two_grade_rule_never_yields_basically_satisfied(counts: SatisfactionCount, denominator: str) -> None:
    graded = grade_satisfaction(counts, SatisfactionRule(denominator=denominator, grades=2))
    assert graded.grade in ("satisfied", "unsatisfied")


# --- properties --------------------------------------------------------------


@settings(max_examples=500, deadline=None)
@given(satisfaction_counts(min_unsatisfied=1), st.sampled_from(DENOMINATORS), st.sampled_from([2, 3]))
def test_moving_a_vote_from_unsatisfied_to_satisfied_never_lowers_the_grade(
    counts: SatisfactionCount, denominator: str, grades: int
) -> None:
    rule = SatisfactionRule(denominator=denominator, grades=grades)
    before = grade_satisfaction(counts, rule)
    moved = SatisfactionCount(
        counts.satisfied + 1, counts.basically_satisfied, counts.unsatisfied - 1, counts.present, counts.members_total
    )
    after = grade_satisfaction(moved, rule)
    assert RANK[after.grade] >= RANK[before.grade]
    assert after.denominator == before.denominator  # moving a vote never changes the base


@settings(max_examples=300, deadline=None)
@given(satisfaction_counts(), st.sampled_from(DENOMINATORS))
def test_grade_matches_the_rule_written_out(counts: SatisfactionCount, denominator: str) -> None:
    base = {"all_members": counts.members_total, "present": counts.present, "valid_votes": counts.valid_votes}[denominator]
    graded = grade_satisfaction(counts, SatisfactionRule(denominator=denominator))
    if counts.satisfied > base / 2:
        expected = "satisfied"
    elif counts.satisfied + counts.basically_satisfied > base / 2:
        expected = "basically_satisfied"
    else:
        expected = "unsatisfied"
    assert graded.grade == expected
    assert graded.denominator == base
    assert graded.label == GRADE_LABELS[expected]


def test_labels_are_chinese() -> None:
    assert GRADE_LABELS == {"satisfied": "满意", "basically_satisfied": "基本满意", "unsatisfied": "不满意"}
