"""Grading a satisfaction vote (满意度测评): pure rules, no I/O.

Default (the most common local rule): 满意 when 满意 votes are more than half
of ALL members; else 基本满意 when 满意 + 基本满意 are more than half of all
members; else 不满意. The denominator can instead be the members present or
the valid votes; the two-grade variant knows only 满意 and 不满意.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Grade = Literal["satisfied", "basically_satisfied", "unsatisfied"]
Denominator = Literal["all_members", "present", "valid_votes"]

GRADE_LABELS: dict[str, str] = {
    "satisfied": "满意",
    "basically_satisfied": "基本满意",
    "unsatisfied": "不满意",
}


@dataclass(frozen=True)
class SatisfactionRule:
    denominator: Denominator = "all_members"
    grades: Literal[2, 3] = 3


@dataclass(frozen=True)
class SatisfactionCount:
    satisfied: int
    basically_satisfied: int
    unsatisfied: int
    present: int
    members_total: int

    @property
    def valid_votes(self) -> int:
        return self.satisfied + self.basically_satisfied + self.unsatisfied


@dataclass(frozen=True)
class SatisfactionGrade:
    grade: Grade
    denominator: int
    basis: Denominator

    @property
    def label(self) -> str:
        return GRADE_LABELS[self.grade]


def _more_than_half(votes: int, base: int) -> bool:
    # Integer arithmetic: exactly half is not more than half.
    return base > 0 and 2 * votes > base


def grade_satisfaction(count: SatisfactionCount, rule: SatisfactionRule = SatisfactionRule()) -> SatisfactionGrade:
    base = {
        "all_members": count.members_total,
        "present": count.present,
        "valid_votes": count.valid_votes,
    }[rule.denominator]
    if _more_than_half(count.satisfied, base):
        grade: Grade = "satisfied"
    elif rule.grades == 3 and _more_than_half(count.satisfied + count.basically_satisfied, base):
        grade = "basically_satisfied"
    else:
        grade = "unsatisfied"
    return SatisfactionGrade(grade=grade, denominator=base, basis=rule.denominator)
