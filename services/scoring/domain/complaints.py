"""Net complaints (群众净投诉量) from 12345 work orders: pure rules, no I/O.

A work order counts against a department when it is a complaint (投诉) or a
report (举报), valid, not merged into another order, not found unfounded on
review, and that department is its final responsible unit. Every order that
does not count is classified under exactly one exclusion, checked in the order
below, so the exclusions and the net figure always add up to the orders seen.
A department that received an order and sent it back, when the order ended
with another department, records it as `redispatched_away`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

RequestType = Literal["consultation", "help", "complaint", "report", "suggestion"]

# The platform's Chinese names for request types.
REQUEST_TYPES: dict[str, RequestType] = {
    "咨询": "consultation",
    "求助": "help",
    "投诉": "complaint",
    "举报": "report",
    "意见建议": "suggestion",
    "建议": "suggestion",
}

Exclusion = Literal["consultation", "suggestion", "help", "invalid", "duplicate", "unfounded", "redispatched_away"]

EXCLUSIONS: tuple[Exclusion, ...] = (
    "consultation",
    "suggestion",
    "help",
    "invalid",
    "duplicate",
    "unfounded",
    "redispatched_away",
)

EXCLUSION_LABELS: dict[str, str] = {
    "consultation": "咨询",
    "suggestion": "意见建议",
    "help": "求助",
    "invalid": "无效工单",
    "duplicate": "重复合并",
    "unfounded": "经核查不属实",
    "redispatched_away": "已退回改派",
}


@dataclass(frozen=True)
class WorkOrderFacts:
    """What the metric needs to know of one work order."""

    request_type: RequestType
    final_department: str | None
    valid: bool = True
    duplicate_of: str | None = None
    unfounded: bool = False
    returned_by: tuple[str, ...] = ()


def classify(order: WorkOrderFacts) -> Exclusion | None:
    """None when the order counts against its final department, else why not."""
    if order.request_type in ("consultation", "suggestion", "help"):
        return order.request_type
    if not order.valid:
        return "invalid"
    if order.duplicate_of:
        return "duplicate"
    if order.unfounded:
        return "unfounded"
    return None


@dataclass
class NetComplaints:
    department: str
    received: int = 0
    net: int = 0
    excluded: dict[str, int] = field(default_factory=lambda: {e: 0 for e in EXCLUSIONS})


def net_complaints(orders: Iterable[WorkOrderFacts]) -> dict[str, NetComplaints]:
    by_department: dict[str, NetComplaints] = {}

    def tally(department: str) -> NetComplaints:
        if department not in by_department:
            by_department[department] = NetComplaints(department)
        return by_department[department]

    for order in orders:
        if order.final_department:
            entry = tally(order.final_department)
            entry.received += 1
            reason = classify(order)
            if reason is None:
                entry.net += 1
            else:
                entry.excluded[reason] += 1
        for department in set(order.returned_by):
            if department != order.final_department:
                entry = tally(department)
                entry.received += 1
                entry.excluded["redispatched_away"] += 1
    return by_department


def net_complaints_from_counts(
    groups: Iterable[tuple[str, RequestType, bool, bool, bool, int]],
    returns: Iterable[tuple[str, str, int]],
    canonical: Callable[[str], str | None],
) -> tuple[dict[str, NetComplaints], dict[str, int]]:
    """The same figures as `net_complaints()`, from counted groups of orders.

    `groups`: (final responsible unit as written, request type, valid, merged
    duplicate, unfounded, orders). `returns`: (final unit as written, the units
    that returned the order joined by "|", orders). `canonical` maps a written
    name to its department, or None when nothing maps it. A group may come more
    than once (from different days or sources): counts add up. Returns the
    figures per department and the orders whose final unit maps to no
    department, by name."""
    result: dict[str, NetComplaints] = {}
    unmatched: dict[str, int] = {}

    def entry(department: str) -> NetComplaints:
        if department not in result:
            result[department] = NetComplaints(department)
        return result[department]

    for name, kind, valid, duplicate, unfounded, n in groups:
        if not n:
            continue
        department = canonical(name)
        if department is None:
            unmatched[name] = unmatched.get(name, 0) + n
            continue
        reason = classify(WorkOrderFacts(kind, department, valid, "duplicate" if duplicate else None, unfounded))
        e = entry(department)
        e.received += n
        if reason is None:
            e.net += n
        else:
            e.excluded[reason] += n
    for final_name, returned, n in returns:
        if not n or not returned:
            continue
        final = canonical(final_name)
        for department in {canonical(r) for r in returned.split("|")} - {final, None}:
            e = entry(department)
            e.received += n
            e.excluded["redispatched_away"] += n
    return result, unmatched
