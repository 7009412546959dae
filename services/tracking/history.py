"""A small history kept on motions and audit cases (their timeline)."""

from __future__ import annotations

from shared.messaging.events import utcnow


def append_history(row, kind: str, summary: str, source: str) -> None:
    # Reassign so the JSON column is seen as changed.
    row.history = [*(row.history or []), {"at": utcnow().isoformat(), "kind": kind, "summary": summary, "source": source}]
