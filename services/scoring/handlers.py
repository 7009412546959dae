"""Every event scoring consumes, topic → handler, in one place (a message bus).

`ballot.closed` serves three features; it is dispatched here by the ballot's
kind, not inside any one of them:

| ballot kind                             | handler                                   | effect |
|-----------------------------------------|-------------------------------------------|--------|
| `satisfaction`                          | `satisfaction.service.grade_closed_ballot`  | graded under the plan's rule; `score.computed`, and `vote.marked_unsatisfied` on 不满意 |
| `nomination_poll`, `public_vote`        | `composite.service.record_poll`             | the constituency's source figures, the batch recomputed |
| `competitive_selection` (first round)   | `publication.service.record_selection_held` | the ranking behind the slate is public |

Each runs inside the inbox transaction (no commit) and is idempotent on the
ballot id: the same close under a new event id changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.orm import Session

from services.scoring.composite.service import record_poll
from services.scoring.domain.satisfaction import SatisfactionRule
from services.scoring.publication.service import record_selection_held
from services.scoring.satisfaction.service import grade_closed_ballot
from shared.messaging.events import BallotClosed, Envelope, Topic
from shared.messaging.inbox import Handler

POLL_KINDS = frozenset({"nomination_poll", "public_vote"})


def ballot_closed_handler(rule: SatisfactionRule) -> Handler:
    """`ballot.closed`, by the ballot's kind; `rule` grades satisfaction votes a plan has no rule for."""

    def handle(session: Session, envelope: Envelope) -> None:
        kind = BallotClosed.from_envelope(envelope).ballot_kind
        if kind == "satisfaction":
            grade_closed_ballot(session, envelope, rule)
        elif kind in POLL_KINDS:
            record_poll(session, envelope)
        elif kind == "competitive_selection":
            record_selection_held(session, envelope)
        # resolutions and the other ballots are not scoring's

    return handle


def handlers(rule: SatisfactionRule) -> Mapping[str, Handler]:
    return {Topic.BALLOT_CLOSED.value: ballot_closed_handler(rule)}
