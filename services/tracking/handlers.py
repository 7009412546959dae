"""Every event tracking consumes, topic → handler, in one place (a message bus).

| topic                     | handler                                          | effect |
|---------------------------|--------------------------------------------------|--------|
| `vote.marked_unsatisfied` | `cases.service.vote_marked_unsatisfied_handler`  | the special investigation and the re-report; `rereport.scheduled`, or escalation on a second 不满意 |
| `score.computed`          | `cases.service.record_grade`                     | a satisfaction result: the case's latest grade; a composite ranking: the plan's escalation policy |
| `ballot.closed`           | `cases.service.ballot_closed_handler`            | a competitive selection: a case opened for each department chosen |

Each runs inside the inbox transaction (no commit) and is idempotent on natural keys.
"""

from __future__ import annotations

from collections.abc import Mapping

from services.tracking.cases.service import ballot_closed_handler, record_grade, vote_marked_unsatisfied_handler
from services.tracking.settings import TrackingSettings
from shared.messaging.events import Topic
from shared.messaging.inbox import Handler


def handlers(settings: TrackingSettings) -> Mapping[str, Handler]:
    return {
        Topic.VOTE_MARKED_UNSATISFIED.value: vote_marked_unsatisfied_handler(
            settings.investigation_days, settings.research_group, settings.escalation_policy
        ),
        Topic.SCORE_COMPUTED.value: record_grade,
        Topic.BALLOT_CLOSED.value: ballot_closed_handler,
    }
