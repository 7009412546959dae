"""Competitive selection (差额票决): counting marks and deciding winners. Pure, no I/O."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

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
class CompetitiveRatio:
    """How many more candidates than seats the plan puts on a ballot (差额比例),
    in percent of the seats; the year plan's default is 20–50 %."""

    min_percent: int = 20
    max_percent: int = 50

    def bounds(self, seats: int) -> tuple[int, int]:
        """Fewest and most candidates for `seats`: always at least one more than
        the seats, and exactly two for one seat (Election Law art. 45)."""
        if seats == 1:
            return 2, 2
        fewest = max(seats + 1, math.ceil(seats * (100 + self.min_percent) / 100))
        return fewest, max(fewest, math.floor(seats * (100 + self.max_percent) / 100))


@dataclass(frozen=True)
class FollowUpRound:
    candidates: list[str]
    seats: int


@dataclass(frozen=True)
class ListRunoff:
    """The supplementary round's list ends in a tie the ratio cannot hold: the tied
    (`candidates`) vote again for its last `places`; `placed` are on it already and
    the supplementary round will fill `seats`."""

    candidates: list[str]
    places: int
    placed: list[str] = field(default_factory=list)
    seats: int = 1


@dataclass(frozen=True)
class SelectionOutcome:
    winners: list[str]
    runoff: FollowUpRound | None = None
    supplementary: FollowUpRound | None = None
    list_runoff: ListRunoff | None = None


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


def _by_votes(counts: dict[str, int], candidates: Sequence[str]) -> list[str]:
    """Most votes first; equal votes keep the ballot's order (the order shown, not a tie-break)."""
    return sorted(candidates, key=lambda c: (-counts.get(c, 0), candidates.index(c)))


def _cut(counts: dict[str, int], ordered: Sequence[str], places: int) -> tuple[list[str], list[str]]:
    """Those surely inside the first `places`, and those tied at the edge (empty when the edge is clean)."""
    if len(ordered) <= places:
        return list(ordered), []
    edge = counts.get(ordered[places - 1], 0)
    above = [c for c in ordered if counts.get(c, 0) > edge]
    tied = [c for c in ordered if counts.get(c, 0) == edge]
    if len(above) + len(tied) == places:
        return above + tied, []
    return above, tied


def decide(counts: dict[str, int], candidates: Sequence[str], seats: int, floor_rule: str, members_total: int,
           ratio: CompetitiveRatio = CompetitiveRatio()) -> SelectionOutcome:
    """Winners are the top `seats` that pass the floor. A tie at the cut-off leaves the
    tied seats to a runoff among the tied only; seats nobody fills go to a
    supplementary round (另行选举) among the runners-up, see `supplementary_list`."""
    ordered = _by_votes(counts, candidates)
    eligible = [c for c in ordered if passes_floor(counts.get(c, 0), floor_rule, members_total)]
    if len(eligible) <= seats:
        winners = eligible
        unfilled = seats - len(winners)
        if not unfilled:
            return SelectionOutcome(winners=winners)
        runners_up = [c for c in ordered if c not in winners]
        return supplementary_list(winners, counts, runners_up, unfilled, ratio)
    above, tied = _cut(counts, eligible, seats)
    if not tied:
        return SelectionOutcome(winners=above)
    return SelectionOutcome(winners=above, runoff=FollowUpRound(tied, seats - len(above)))


def supplementary_list(winners: list[str], counts: dict[str, int], runners_up: Sequence[str], unfilled: int,
                       ratio: CompetitiveRatio) -> SelectionOutcome:
    """The supplementary round's candidates: the runners-up in order of their votes,
    as many as the ratio's fewest for `unfilled` seats. A tie at the end of that list
    takes in every tied candidate while the ratio's most allows it; beyond that the
    tied vote again for the last places (the main round's rule at its cut-off)."""
    fewest, most = ratio.bounds(unfilled)
    if len(runners_up) <= fewest:
        return SelectionOutcome(winners=winners, supplementary=FollowUpRound(list(runners_up), unfilled))
    above, tied = _cut(counts, runners_up, fewest)
    if not tied:
        return SelectionOutcome(winners=winners, supplementary=FollowUpRound(above, unfilled))
    if len(above) + len(tied) <= most:
        return SelectionOutcome(winners=winners, supplementary=FollowUpRound(above + tied, unfilled))
    return SelectionOutcome(winners=winners, list_runoff=ListRunoff(tied, fewest - len(above), placed=above, seats=unfilled))


def decide_list_runoff(counts: dict[str, int], round_: ListRunoff) -> SelectionOutcome:
    """The tied runners-up voted for the list's last places: the supplementary round
    follows, or, tied again at the edge, another such vote among the still tied."""
    above, tied = _cut(counts, _by_votes(counts, round_.candidates), round_.places)
    if not tied:
        return SelectionOutcome(winners=[], supplementary=FollowUpRound(round_.placed + above, round_.seats))
    return SelectionOutcome(winners=[], list_runoff=ListRunoff(
        tied, round_.places - len(above), placed=round_.placed + above, seats=round_.seats))
