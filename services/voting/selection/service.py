"""Competitive selection (差额票决): ballots from the clerk's list or scoring's slate,
and the latest slate per plan and batch kept from score.computed."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.voting.ballots.service import SELECTION_KIND, agenda_item_of
from services.voting.domain.selection import CompetitiveRatio
from services.voting.models import Ballot, CandidateSlate, Meeting
from services.voting.selection.schemas import SelectionBallotCreate, SlateOut
from shared.messaging.events import Envelope, ScoreComputed
from shared.web.problems import Problem, not_found


def get_slate(session: Session, plan_id: str, batch: int | None) -> CandidateSlate:
    slate = session.scalars(
        select(CandidateSlate).where(CandidateSlate.plan_id == plan_id, CandidateSlate.batch_key == (batch or 0))
    ).first()
    if slate is None:
        raise not_found("slate", f"{plan_id}/{batch}")
    return slate


def slate_out(slate: CandidateSlate) -> SlateOut:
    return SlateOut(plan_id=slate.plan_id, batch=slate.batch, evaluation_year=slate.evaluation_year, seats=slate.seats,
                    candidates=slate.candidates, surplus_min_percent=slate.surplus_min_percent,
                   surplus_max_percent=slate.surplus_max_percent, computation_id=slate.computation_id, computed_at=slate.computed_at)


def create_selection_ballot(session: Session, meeting: Meeting, data: SelectionBallotCreate) -> Ballot:
    if (data.candidates is None) == (data.slate is None):
        raise Problem(422, "validation-error", "Invalid request 请求参数无效", "give either candidates or slate",
                      errors=[{"field": "candidates", "message": "give either candidates or slate, not both"}])
    item = agenda_item_of(session, meeting, data.agenda_item_id)
    candidates, seats, year, plan_id, batch = data.candidates, data.seats, data.evaluation_year, None, None
    ratio_min, ratio_max = data.surplus_min_percent, data.surplus_max_percent
    if data.slate is not None:
        slate = get_slate(session, data.slate.plan_id, data.slate.batch)
        candidates, plan_id, batch = list(slate.candidates), slate.plan_id, slate.batch
        seats, year = seats or slate.seats, year or slate.evaluation_year
        ratio_min = slate.surplus_min_percent if ratio_min is None else ratio_min
        ratio_max = slate.surplus_max_percent if ratio_max is None else ratio_max
    default_ratio = CompetitiveRatio()
    ratio_min = default_ratio.min_percent if ratio_min is None else ratio_min
    ratio_max = default_ratio.max_percent if ratio_max is None else ratio_max
    if ratio_min > ratio_max:
        raise Problem(422, "inconsistent-request", "Inconsistent request 请求字段相互矛盾",
                      f"surplus_min_percent {ratio_min} is above surplus_max_percent {ratio_max}")
    year = year or (item.evaluation_year if item else None)
    missing = [name for name, value in (("seats", seats), ("evaluation_year", year)) if value is None]
    if missing:
        raise Problem(422, "validation-error", "Invalid request 请求参数无效", f"missing fields: {', '.join(missing)}",
                      errors=[{"field": m, "message": "required"} for m in missing])
    if len(candidates) <= seats:
        raise Problem(422, "not-competitive", "Not competitive 候选对象应多于应选名额",
                      f"{len(candidates)} candidates for {seats} seats: a competitive selection needs more candidates than seats",
                      candidates=len(candidates), seats=seats)
    ballot = Ballot(
        meeting_id=meeting.id, agenda_item_id=item.id if item else None, kind=SELECTION_KIND,
        title=data.title or f"{year}年度专项工作评议对象差额票决", evaluation_year=year, vote_round=1, secret=True,
        status="draft", members_total=len(meeting.members), candidates=candidates, seats=seats,
        floor_rule=data.floor_rule, round_kind="main", plan_id=plan_id, batch=batch,
        surplus_min_percent=ratio_min, surplus_max_percent=ratio_max,
    )
    session.add(ballot)
    session.flush()
    return ballot


def keep_slate(session: Session, envelope: Envelope) -> None:
    """score.computed (composite ranking): keep the latest slate per plan and batch.
    Idempotent: the same computation (or an older one) announced again changes nothing."""
    event = ScoreComputed.from_envelope(envelope)
    if event.kind != "composite_ranking" or not event.slate or not event.plan_id:
        return
    batch_key = event.batch or 0
    current = session.scalars(
        select(CandidateSlate).where(CandidateSlate.plan_id == event.plan_id, CandidateSlate.batch_key == batch_key).with_for_update()
    ).first()
    if current is not None and (current.computation_id == event.computation_id or current.computed_at > envelope.occurred_at):
        return
    if current is None:
        current = CandidateSlate(plan_id=event.plan_id, batch_key=batch_key)
        session.add(current)
    current.batch = event.batch
    current.evaluation_year = event.evaluation_year
    current.seats = event.seats
    current.candidates = list(event.slate)
    current.surplus_min_percent = event.surplus_min_percent
    current.surplus_max_percent = event.surplus_max_percent
    current.computation_id = event.computation_id
    current.event_id = str(envelope.event_id)
    current.computed_at = envelope.occurred_at
    session.flush()
