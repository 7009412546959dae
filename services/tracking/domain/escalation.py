"""What follows a second 不满意: pure rules, no I/O."""

from __future__ import annotations

from typing import Literal

EscalationMeasure = Literal["written_self_examination", "admonition_talk", "interpellation_motion", "disciplinary_recommendation"]

ESCALATION_LABELS = {
    "written_self_examination": "书面检查",
    "admonition_talk": "约谈",
    "interpellation_motion": "质询案",
    "disciplinary_recommendation": "建议有关机关依法处理",
}

MIN_INTERPELLATION_SPONSORS = 5  # 监督法: 五人以上联名


def escalates(unsatisfied_round: int) -> bool:
    """A second (or later) 不满意 escalates; the first sends the department to investigation."""
    return unsatisfied_round >= 2


def distinct_sponsors(sponsors: list[str]) -> list[str]:
    """Sponsors counted once each, blank names ignored, in the order given."""
    seen: list[str] = []
    for name in sponsors:
        name = name.strip()
        if name and name not in seen:
            seen.append(name)
    return seen
