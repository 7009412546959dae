"""What the chamber board says, worked out from the published figures. Pure."""

from __future__ import annotations


def quorum_line(members_total: int, present: int, quorum: bool) -> str:
    """应到N人，实到M人，符合法定人数 (more than half of all members present)."""
    verdict = "符合法定人数" if quorum else "不足法定人数"
    return f"应到{members_total}人，实到{present}人，{verdict}"


def not_pressed(present: int | None, votes: int | None) -> int:
    """未按: members present who pressed no button on the question."""
    return max(0, (present or 0) - (votes or 0))


def turnout_percent(votes_cast: int, present: int) -> int:
    return round(100 * votes_cast / present) if present else 0
