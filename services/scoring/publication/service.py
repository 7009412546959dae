"""Scoring decides what counts as published: a batch's ranking once the
selection vote on its slate has closed (the selection meeting held), a
satisfaction grade once the ballot is graded (it closed in open session)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.scoring.composite.service import computation_out, latest_computation
from services.scoring.domain.composite import SOURCE_LABELS
from services.scoring.models import PublishedRanking, ScoreComputation, YearPlan
from services.scoring.plans.service import get_plan
from services.scoring.publication.schemas import PublicRanking, PublicSatisfactionResult, PublicWeight, PublicYearPlan
from services.scoring.satisfaction.service import get_result_by_ballot, list_results, result_out
from shared.messaging.events import BallotClosed, Envelope
from shared.web.pagination import Page, paginate
from shared.web.problems import Problem


def weights_out(weights: dict[str, float]) -> list[PublicWeight]:
    return [PublicWeight(source=s, source_label=SOURCE_LABELS.get(s, s), weight=w) for s, w in weights.items()]


def public_plan(plan: YearPlan) -> PublicYearPlan:
    return PublicYearPlan(id=plan.id, evaluation_year=plan.evaluation_year, title=plan.title, batches=plan.batches,
                          weights=weights_out(plan.weights), departments=plan.departments)


def list_public_plans(session: Session, *, limit: int, cursor: str | None) -> Page[PublicYearPlan]:
    return paginate(session, select(YearPlan), [YearPlan.evaluation_year], limit=limit, cursor=cursor, to_item=public_plan)


def public_plan_by_id(session: Session, plan_id: str) -> PublicYearPlan:
    return public_plan(get_plan(session, plan_id))


def record_selection_held(session: Session, envelope: Envelope) -> PublishedRanking | None:
    """The first round of a batch's selection closed: the ranking behind its slate is public."""
    event = BallotClosed.from_envelope(envelope)
    if event.ballot_kind != "competitive_selection" or not event.plan_id or event.parent_ballot_id is not None:
        return None
    batch = event.batch or 1
    known = session.scalars(select(PublishedRanking).where(PublishedRanking.plan_id == event.plan_id,
                                                           PublishedRanking.batch == batch)).first()
    if known is not None or session.get(YearPlan, event.plan_id) is None:
        return None  # already published (the same close again), or a plan scoring never ranked
    computation = session.scalars(
        select(ScoreComputation).where(ScoreComputation.plan_id == event.plan_id, ScoreComputation.batch == batch,
                                       ScoreComputation.computed_at <= event.closed_at)
        .order_by(ScoreComputation.computed_at.desc(), ScoreComputation.id.desc())
    ).first() or latest_computation(session, event.plan_id, batch)
    row = PublishedRanking(plan_id=event.plan_id, batch=batch, computation_id=computation.id,
                           selection_ballot_id=event.ballot_id, meeting_number=event.meeting_number,
                           meeting_date=event.meeting_date)
    session.add(row)
    return row


def published_ranking(session: Session, plan_id: str, batch: int) -> PublicRanking:
    get_plan(session, plan_id)
    row = session.scalars(select(PublishedRanking).where(PublishedRanking.plan_id == plan_id,
                                                         PublishedRanking.batch == batch)).first()
    if row is None:
        raise Problem(404, "ranking-not-published", "Ranking not published 排名尚未公布",
                      f"the ranking of plan {plan_id} batch {batch} is published once its selection vote is held",
                      plan_id=plan_id, batch=batch)
    computation = computation_out(session.get(ScoreComputation, row.computation_id))
    return PublicRanking(plan_id=plan_id, batch=batch, seats=computation.seats,
                         weights=weights_out(computation.inputs["weights"]), ranking=computation.ranking,
                         slate=computation.slate, computed_at=computation.computed_at,
                         selection_meeting_number=row.meeting_number, selection_meeting_date=row.meeting_date,
                         published_at=row.published_at)


def public_satisfaction_result(session: Session, ballot_id: str) -> PublicSatisfactionResult:
    return PublicSatisfactionResult.model_validate(result_out(get_result_by_ballot(session, ballot_id)).model_dump())


def public_satisfaction_results(session: Session, department: str | None, year: int | None, *, limit: int,
                                cursor: str | None) -> Page[PublicSatisfactionResult]:
    page = list_results(session, department, year, limit=limit, cursor=cursor)
    return Page(items=[PublicSatisfactionResult.model_validate(r.model_dump()) for r in page.items], next_cursor=page.next_cursor)
