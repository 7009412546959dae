"""Counting votes: pure functions, no I/O."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

# Option codes of a satisfaction ballot and the labels people read.
SATISFACTION_OPTIONS: dict[str, str] = {
    "satisfied": "满意",
    "basically_satisfied": "基本满意",
    "unsatisfied": "不满意",
}


@dataclass(frozen=True)
class BallotTally:
    counts: dict[str, int]
    invalid: int
    votes_cast: int


def tally_single_choice(choices: Iterable[str], options: Iterable[str]) -> BallotTally:
    """Count one-choice ballots; a choice outside `options` is an invalid ballot."""
    options = list(options)
    seen = Counter(choices)
    counts = {option: seen.get(option, 0) for option in options}
    valid = sum(counts.values())
    cast = sum(seen.values())
    return BallotTally(counts=counts, invalid=cast - valid, votes_cast=cast)


def has_quorum(present: int, members_total: int) -> bool:
    """A meeting needs more than half of ALL members present."""
    return members_total > 0 and 2 * present > members_total


# Options of a yes/no/abstain question and the labels people read.
YES_NO_ABSTAIN_OPTIONS: dict[str, str] = {"yes": "赞成", "no": "反对", "abstain": "弃权"}

# What "more than half" is counted against (default: all members, as the law says for resolutions).
PASS_BASES: dict[str, str] = {"members_total": "全体组成人员", "present": "出席人员", "votes_cast": "投票人数"}


@dataclass(frozen=True)
class QuestionResult:
    counts: dict[str, int]
    votes_cast: int
    base: int
    passed: bool


def pass_base(basis: str, *, members_total: int, present: int, votes_cast: int) -> int:
    return {"members_total": members_total, "present": present, "votes_cast": votes_cast}[basis]


def tally_question(answers: Iterable[str], *, basis: str, members_total: int, present: int) -> QuestionResult:
    """One yes/no/abstain question. A member who pressed nothing on it is not counted;
    it passes with more yes votes than half of the base."""
    tally = tally_single_choice(answers, YES_NO_ABSTAIN_OPTIONS)
    cast = sum(tally.counts.values())
    base = pass_base(basis, members_total=members_total, present=present, votes_cast=cast)
    return QuestionResult(counts=tally.counts, votes_cast=cast, base=base, passed=base > 0 and 2 * tally.counts["yes"] > base)
