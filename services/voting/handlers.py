"""Every event voting consumes, topic → handler, in one place (a message bus).

| topic                | handler                                      | effect |
|----------------------|----------------------------------------------|--------|
| `rereport.scheduled` | `agenda.service.handle_rereport_scheduled`   | the re-report, inquiry and re-vote on the next meeting's agenda |
| `score.computed`     | `handle_score_computed`, by kind:            | |
|   composite ranking  | `selection.service.keep_slate`               | the latest slate, ready for its competitive selection ballot |
|   satisfaction       | `records.service.keep_grade`                 | the grade on the ballot, for the meeting's voting record |

Each runs inside the inbox transaction (no commit) and is idempotent on natural keys.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.orm import Session

from services.voting.agenda.service import handle_rereport_scheduled
from services.voting.records.service import keep_grade
from services.voting.selection.service import keep_slate
from shared.messaging.events import Envelope, ScoreComputed, Topic
from shared.messaging.inbox import Handler


def handle_score_computed(session: Session, envelope: Envelope) -> None:
    """`score.computed`, by its kind: a satisfaction grade for the record, a ranking's slate for selection."""
    event = ScoreComputed.from_envelope(envelope)
    if event.kind == "satisfaction":
        if event.satisfaction is not None:
            keep_grade(session, event.satisfaction)
    elif event.kind == "composite_ranking":
        keep_slate(session, envelope)


HANDLERS: Mapping[str, Handler] = {
    Topic.REREPORT_SCHEDULED.value: handle_rereport_scheduled,
    Topic.SCORE_COMPUTED.value: handle_score_computed,
}
