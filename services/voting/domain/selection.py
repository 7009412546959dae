"""Competitive selection (差额票决): counting marks and deciding winners. Pure, no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

FLOOR_RULES: dict[str, str] = {
    "majority_of_members": "超过全体组成人员的半数",
    "plurality": "得票多者当选",
}


@dataclass(frozen=True)
class MarkTally:
    counts: dict[str, int]
    invalid: int
    votes_cast: int


@dataclass(frozen=True)
class FollowUpRound:
    candidates: list[str]
    seats: int


@dataclass(frozen=True)
class SelectionOutcome:
    winners: list[str]
    runoff: FollowUpRound | None = None
    supplementary: FollowUpRound | None = None


def count_marks(ballots: Iterable[Sequence[str] | None], candidates: Sequence[str], seats: int) -> MarkTally:
    """Each ballot marks at most `seats` candidates; one marking more (or unreadable:
    None) is invalid and adds nothing to any candidate."""
    counts = {c: 0 for c in candidates}
    invalid = cast = 0
    for marks in ballots:
        cast += 1
        if marks is None or len(marks) > seats or len(set(marks)) != len(marks) or not set(marks) <= counts.keys():
            invalid += 1
            continue
        for candidate in marks:
            counts[candidate] += 1
    return MarkTally(counts=counts, invalid=invalid, votes_cast=cast)


def passes_floor(votes: int, floor_rule: str, members_total: int) -> bool:
    if floor_rule == "majority_of_members":
        return 2 * votes > members_total
    return votes > 0


def decide(counts: dict[str, int], candidates: Sequence[str], seats: int, floor_rule: str, members_total: int) -> SelectionOutcome:
    """Winners are the top `seats` that pass the floor. A tie at the cut-off leaves the
    tied seats to a runoff among the tied only; seats nobody fills go to a
    supplementary round among the runners-up."""
    ordered = sorted(candidates, key=lambda c: (-counts.get(c, 0), candidates.index(c)))
    eligible = [c for c in ordered if passes_floor(counts.get(c, 0), floor_rule, members_total)]
    if len(eligible) <= seats:
        winners = eligible
        unfilled = seats - len(winners)
        runners_up = [c for c in ordered if c not in winners]
        supplementary = FollowUpRound(runners_up, unfilled) if unfilled and runners_up else None
        return SelectionOutcome(winners=winners, supplementary=supplementary)
    cutoff = counts[eligible[seats - 1]]
    above = [c for c in eligible if counts[c] > cutoff]
    tied = [c for c in eligible if counts[c] == cutoff]
    if len(above) + len(tied) == seats:
        return SelectionOutcome(winners=above + tied)
    return SelectionOutcome(winners=above, runoff=FollowUpRound(tied, seats - len(above)))
