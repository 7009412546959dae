"""The five-source composite score, ranking, slate and weight sensitivity:
pure rules, no I/O.

Every source is read as "more means more reason to evaluate the department"
(more net complaints, more nominations), normalised to 0–100 across the
candidates and weighted by the plan (weights are percentage points summing to
100). A candidate missing from a source has the raw figure 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

Source = Literal["net_complaints", "npc_deputies", "working_committees", "districts_and_enterprises", "public"]
Normalisation = Literal["min_max", "rank"]

SOURCES: tuple[Source, ...] = ("net_complaints", "npc_deputies", "working_committees", "districts_and_enterprises", "public")

SOURCE_LABELS: dict[str, str] = {
    "net_complaints": "12345热线群众净投诉量",
    "npc_deputies": "人大代表投票",
    "working_committees": "有关委室意见",
    "districts_and_enterprises": "市直、各区县人大及驻淄企业意见",
    "public": "网上社会投票",
}

DEFAULT_WEIGHTS: dict[str, float] = {
    "net_complaints": 35,
    "npc_deputies": 20,
    "working_committees": 20,
    "districts_and_enterprises": 15,
    "public": 10,
}

# Scores are compared at this precision so float noise never decides a rank.
PRECISION = 6


def normalise_min_max(raw: Mapping[str, float]) -> dict[str, float]:
    """(x − min) / (max − min) × 100; a source that does not tell the candidates
    apart (all equal) gives every one 0, so it moves no ranking."""
    if not raw:
        return {}
    low, high = min(raw.values()), max(raw.values())
    if high == low:
        return {d: 0.0 for d in raw}
    return {d: (x - low) / (high - low) * 100 for d, x in raw.items()}


def normalise_rank(raw: Mapping[str, float]) -> dict[str, float]:
    """Ascending rank scaled to 0–100: the lowest 0, the highest 100, ties share
    their average rank; robust to one outlier dominating the range."""
    n = len(raw)
    if n == 0:
        return {}
    if n == 1:
        return {d: 0.0 for d in raw}
    ordered = sorted(raw.items(), key=lambda item: item[1])
    ranks: dict[str, float] = {}
    i = 0
    while i < n:
        j = i
        while j + 1 < n and ordered[j + 1][1] == ordered[i][1]:
            j += 1
        average = (i + j) / 2  # 0-based
        for k in range(i, j + 1):
            ranks[ordered[k][0]] = average
        i = j + 1
    if len(set(ranks.values())) == 1:
        return {d: 0.0 for d in raw}
    return {d: r / (n - 1) * 100 for d, r in ranks.items()}


def normalise(raw: Mapping[str, float], method: Normalisation = "min_max") -> dict[str, float]:
    return normalise_rank(raw) if method == "rank" else normalise_min_max(raw)


@dataclass(frozen=True)
class SourceContribution:
    source: str
    raw: float
    normalised: float
    weight: float
    contribution: float


@dataclass(frozen=True)
class RankedDepartment:
    rank: int
    department: str
    score: float
    contributions: tuple[SourceContribution, ...]
    on_slate: bool = False

    def as_dict(self) -> dict:
        return {
            "rank": self.rank,
            "department": self.department,
            "score": round(self.score, 4),
            "on_slate": self.on_slate,
            "explanation": [
                {
                    "source": c.source,
                    "source_label": SOURCE_LABELS.get(c.source, c.source),
                    "raw": c.raw,
                    "normalised": round(c.normalised, 4),
                    "weight": c.weight,
                    "contribution": round(c.contribution, 4),
                }
                for c in self.contributions
            ],
        }


def composite_ranking(
    candidates: Sequence[str],
    raw_by_source: Mapping[str, Mapping[str, float]],
    weights: Mapping[str, float],
    method: Normalisation = "min_max",
) -> list[RankedDepartment]:
    """Candidates by descending composite score; equal scores share a rank and
    are listed by name."""
    normalised: dict[str, dict[str, float]] = {}
    raw_full: dict[str, dict[str, float]] = {}
    for source in weights:
        given = raw_by_source.get(source, {})
        raw_full[source] = {d: float(given.get(d, 0)) for d in candidates}
        normalised[source] = normalise(raw_full[source], method)
    rows = []
    for department in candidates:
        parts = tuple(
            SourceContribution(
                source=source,
                raw=raw_full[source][department],
                normalised=normalised[source][department],
                weight=float(weight),
                contribution=normalised[source][department] * weight / 100,
            )
            for source, weight in weights.items()
        )
        rows.append((department, sum(p.contribution for p in parts), parts))
    rows.sort(key=lambda row: (-round(row[1], PRECISION), row[0]))
    ranked: list[RankedDepartment] = []
    for position, (department, score, parts) in enumerate(rows, start=1):
        rank = position
        if ranked and round(ranked[-1].score, PRECISION) == round(score, PRECISION):
            rank = ranked[-1].rank
        ranked.append(RankedDepartment(rank=rank, department=department, score=score, contributions=parts))
    return ranked


def slate_bounds(seats: int, surplus_min_percent: int = 20, surplus_max_percent: int = 50) -> tuple[int, int]:
    """(smallest, largest) slate: ceil(seats × (1 + min%)) .. floor(seats × (1 + max%));
    6 seats with 20–50% give 8..9. Never fewer than seats + 1 (a 差额 vote needs one more)."""
    smallest = -(-seats * (100 + surplus_min_percent) // 100)
    largest = seats * (100 + surplus_max_percent) // 100
    smallest = max(smallest, seats + 1)
    return smallest, max(largest, smallest)


@dataclass(frozen=True)
class Slate:
    departments: tuple[str, ...]
    tie_at_cutoff: bool  # a tie the largest slate could not absorb was cut by name


def choose_slate(ranking: Sequence[RankedDepartment], seats: int, surplus_min_percent: int = 20, surplus_max_percent: int = 50) -> Slate:
    """The top of the ranking at the smallest slate size; candidates tied with
    the last one join while the slate stays within the largest size."""
    smallest, largest = slate_bounds(seats, surplus_min_percent, surplus_max_percent)
    if len(ranking) <= smallest:
        return Slate(tuple(r.department for r in ranking), False)
    size = smallest
    while size < len(ranking) and ranking[size].rank == ranking[size - 1].rank and size < largest:
        size += 1
    cut_tie = size < len(ranking) and ranking[size].rank == ranking[size - 1].rank
    return Slate(tuple(r.department for r in ranking[:size]), cut_tie)


def with_slate(ranking: Sequence[RankedDepartment], slate: Slate) -> list[RankedDepartment]:
    chosen = set(slate.departments)
    return [RankedDepartment(r.rank, r.department, r.score, r.contributions, r.department in chosen) for r in ranking]


def shifted_weights(weights: Mapping[str, float], source: str, delta: float) -> dict[str, float] | None:
    """`source` moved by `delta` points, the others rescaled in proportion so the
    sum stays 100; None when the move leaves 0..100."""
    new = weights[source] + delta
    if new < 0 or new > 100:
        return None
    rest = 100 - weights[source]
    others = [s for s in weights if s != source]
    result = {source: new}
    for s in others:
        share = weights[s] / rest if rest else 1 / len(others)
        result[s] = share * (100 - new)
    return result


@dataclass(frozen=True)
class WeightSensitivity:
    source: str
    weight: float
    # Smallest move (points, 0.5 steps) that changes the slate; None if none within 0..100.
    increase_until_change: float | None
    decrease_until_change: float | None
    slate_plus_5: tuple[str, ...] | None
    slate_minus_5: tuple[str, ...] | None


def sensitivity(
    candidates: Sequence[str],
    raw_by_source: Mapping[str, Mapping[str, float]],
    weights: Mapping[str, float],
    seats: int,
    method: Normalisation = "min_max",
    surplus_min_percent: int = 20,
    surplus_max_percent: int = 50,
    step: float = 0.5,
) -> list[WeightSensitivity]:
    def slate_for(w: Mapping[str, float]) -> tuple[str, ...]:
        ranking = composite_ranking(candidates, raw_by_source, w, method)
        return choose_slate(ranking, seats, surplus_min_percent, surplus_max_percent).departments

    base = set(slate_for(weights))
    out = []
    for source, weight in weights.items():
        found: dict[int, float | None] = {}
        for sign in (1, -1):
            found[sign] = None
            k = 1
            while True:
                moved = shifted_weights(weights, source, sign * k * step)
                if moved is None:
                    break
                if set(slate_for(moved)) != base:
                    found[sign] = k * step
                    break
                k += 1
        plus, minus = shifted_weights(weights, source, 5), shifted_weights(weights, source, -5)
        out.append(
            WeightSensitivity(
                source=source,
                weight=weight,
                increase_until_change=found[1],
                decrease_until_change=found[-1],
                slate_plus_5=slate_for(plus) if plus else None,
                slate_minus_5=slate_for(minus) if minus else None,
            )
        )
    return out
