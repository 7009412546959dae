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
