"""Composite scores: sources arrive (API or nomination-poll ballots), each change
recomputes the batch's ranking and slate, keeps the computation and announces
it as score.computed."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.scoring.composite.ranking_cache import RANKING_CACHE, ranking_key
from services.scoring.composite.schemas import ComputationOut, SensitivityOut, SourceFiguresOut, WeightSensitivityOut
from services.scoring.hotline.service import department_names, net_complaints
from services.scoring.domain.composite import SOURCES, choose_slate, composite_ranking, sensitivity, with_slate
from services.scoring.models import OutboxMessage, ScoreComputation, SourceFigures, YearPlan
from services.scoring.plans.service import batch_seats, get_plan
from shared.messaging.events import BallotClosed, Envelope, ScoreComputed
from shared.messaging.events import utcnow
from shared.messaging.outbox import publish
from shared.web.problems import Problem, not_found

# ballot.closed constituency → composite source
CONSTITUENCY_SOURCES = {
    "npc_deputies": "npc_deputies",
    "working_committees": "working_committees",
    "districts_and_enterprises": "districts_and_enterprises",
    "public": "public",
}


def _check_source(source: str) -> None:
    if source not in SOURCES:
        raise Problem(422, "unknown-source", "Unknown source 未知评分来源", f"source must be one of {', '.join(SOURCES)}", sources=list(SOURCES))


def store_figures(session: Session, plan: YearPlan, batch: int, source: str, figures: dict[str, float], submitted_by: str) -> bool:
    """Saves a source's figures; False when they are what is stored already."""
    row = session.scalars(
        select(SourceFigures).where(SourceFigures.plan_id == plan.id, SourceFigures.batch == batch, SourceFigures.source == source)
    ).first()
    figures = {d: float(v) for d, v in figures.items()}
    if row is None:
        session.add(SourceFigures(plan_id=plan.id, batch=batch, source=source, figures=figures, submitted_by=submitted_by))
        return True
    if row.figures == figures and row.submitted_by == submitted_by:
        return False
    row.figures, row.submitted_by, row.updated_at = figures, submitted_by, utcnow()
    return True


def submit_figures(session: Session, plan_id: str, batch: int, source: str, figures: dict[str, float], submitted_by: str) -> ScoreComputation | None:
    _check_source(source)
    plan = get_plan(session, plan_id)
    batch_seats(plan, batch)
    unknown = sorted(set(figures) - set(plan.departments))
    if unknown:
        # Never guessed: a person maps the name or adds the department to the plan.
        raise Problem(422, "unknown-departments", "Departments not in the plan 部门不在候选名单中", f"{len(unknown)} name(s) match no candidate", departments=unknown)
    if any(v < 0 for v in figures.values()):
        raise Problem(422, "negative-figure", "Figures cannot be negative 数值不能为负", "every raw figure must be ≥ 0")
    if not store_figures(session, plan, batch, source, figures, f"api:{submitted_by}"):
        return None
    session.flush()
    return recompute(session, plan, batch, triggered_by=f"api:{submitted_by} ({source})")


def _inputs(session: Session, plan: YearPlan, batch: int) -> dict[str, dict[str, float]]:
    rows = session.scalars(select(SourceFigures).where(SourceFigures.plan_id == plan.id, SourceFigures.batch == batch))
    return {r.source: dict(r.figures) for r in rows}


def recompute(session: Session, plan: YearPlan, batch: int, triggered_by: str, unmatched: list[str] | None = None) -> ScoreComputation:
    seats = batch_seats(plan, batch)
    raw = _inputs(session, plan, batch)
    ranking = composite_ranking(plan.departments, raw, plan.weights, plan.normalisation)
    slate = choose_slate(ranking, seats, plan.surplus_min_percent, plan.surplus_max_percent)
    ranked = [r.as_dict() for r in with_slate(ranking, slate)]
    computation = ScoreComputation(
        plan_id=plan.id,
        batch=batch,
        seats=seats,
        triggered_by=triggered_by,
        inputs={
            "candidates": list(plan.departments),
            "figures": raw,
            "unmatched_departments": unmatched or [],
            "weights": plan.weights,
            "normalisation": plan.normalisation,
            "missing_sources": [s for s in plan.weights if s not in raw],
            "surplus_percent": [plan.surplus_min_percent, plan.surplus_max_percent],
            "tie_at_cutoff": slate.tie_at_cutoff,
        },
        ranking=ranked,
        slate=list(slate.departments),
    )
    session.add(computation)
    session.flush()
    # Polls of this batch's ranking must not outlive the new computation.
    RANKING_CACHE.invalidate_after_commit(session, ranking_key(plan.id, batch))
    publish(
        session,
        OutboxMessage,
        ScoreComputed(
            computation_id=computation.id,
            kind="composite_ranking",
            plan_id=plan.id,
            evaluation_year=plan.evaluation_year,
            batch=batch,
            seats=seats,
            ranking=ranked,
            slate=list(slate.departments),
            surplus_min_percent=plan.surplus_min_percent,
            surplus_max_percent=plan.surplus_max_percent,
            escalation_policy=plan.escalation_policy,
            review_month=next((b["review_month"] for b in plan.batches if b["batch"] == batch), None),
        ),
        producer="scoring",
        key=plan.id,
    )
    return computation


def recompute_ranked_batches(session: Session, plan: YearPlan, triggered_by: str) -> list[ScoreComputation]:
    """After the plan changed: a new computation for each of its batches that
    has been ranked before (its batches, weights or candidates may differ now)."""
    batches = {b["batch"] for b in plan.batches}
    ranked = session.scalars(
        select(ScoreComputation.batch).where(ScoreComputation.plan_id == plan.id).distinct()
    ).all()
    return [recompute(session, plan, batch, triggered_by=triggered_by) for batch in sorted(set(ranked) & batches)]


def record_poll(session: Session, envelope: Envelope) -> ScoreComputation | None:
    """A closed nomination poll or public vote becomes its source's figures."""
    event = BallotClosed.from_envelope(envelope)
    if event.ballot_kind not in ("nomination_poll", "public_vote"):
        return None
    source = CONSTITUENCY_SOURCES.get(event.constituency or ("public" if event.ballot_kind == "public_vote" else ""))
    if source is None:
        raise ValueError(f"ballot {event.ballot_id}: {event.ballot_kind} without a known constituency")
    plan = session.get(YearPlan, event.plan_id) if event.plan_id else None
    if plan is None and event.evaluation_year and not event.plan_id:
        plan = session.scalars(select(YearPlan).where(YearPlan.evaluation_year == event.evaluation_year)).first()
    if plan is None:
        # Parked in the inbox (pingyi events parked scoring) until the plan exists, then retried.
        raise LookupError(f"ballot {event.ballot_id}: no year plan {event.plan_id or event.evaluation_year}")
    batch = event.batch or 1
    # Names go through the alias table; names still off the candidate list are
    # kept in the inputs for a person to map, never guessed.
    aliases, _ = department_names(session)
    figures: dict[str, float] = {}
    for name, votes in event.tally.counts.items():
        department = aliases.get(name, name)
        if department in plan.departments:
            figures[department] = figures.get(department, 0.0) + float(votes)
    if not store_figures(session, plan, batch, source, figures, f"ballot:{event.ballot_id}"):
        return None  # the same close announced again
    session.flush()
    unmatched = sorted(n for n in event.tally.counts if aliases.get(n, n) not in plan.departments)
    return recompute(session, plan, batch, triggered_by=f"ballot:{event.ballot_id} ({source})", unmatched=unmatched)


def latest_computation(session: Session, plan_id: str, batch: int) -> ScoreComputation:
    get_plan(session, plan_id)
    row = session.scalars(
        select(ScoreComputation)
        .where(ScoreComputation.plan_id == plan_id, ScoreComputation.batch == batch)
        .order_by(ScoreComputation.computed_at.desc(), ScoreComputation.id.desc())
    ).first()
    if row is None:
        raise not_found("computation for plan batch", f"{plan_id}/{batch}")
    return row


def computation_out(row: ScoreComputation) -> ComputationOut:
    return ComputationOut.model_validate({c.key: getattr(row, c.key) for c in ScoreComputation.__table__.columns})


def figures_out(row: SourceFigures) -> SourceFiguresOut:
    return SourceFiguresOut.model_validate({c.key: getattr(row, c.key) for c in SourceFigures.__table__.columns})


def sensitivity_of(session: Session, plan_id: str, batch: int) -> SensitivityOut:
    latest = latest_computation(session, plan_id, batch)
    raw = latest.inputs["figures"]
    rows = sensitivity(latest.inputs["candidates"], raw, latest.inputs["weights"], latest.seats, latest.inputs["normalisation"], *latest.inputs["surplus_percent"])
    return SensitivityOut(
        plan_id=plan_id,
        batch=batch,
        computation_id=latest.id,
        slate=latest.slate,
        weights=[
            WeightSensitivityOut(
                source=r.source,
                weight=r.weight,
                increase_until_change=r.increase_until_change,
                decrease_until_change=r.decrease_until_change,
                slate_plus_5=list(r.slate_plus_5) if r.slate_plus_5 is not None else None,
                slate_minus_5=list(r.slate_minus_5) if r.slate_minus_5 is not None else None,
            )
            for r in rows
        ],
    )


def figures_from_hotline(session: Session, plan_id: str, batch: int, start, end) -> ScoreComputation | None:
    """The net-complaint source taken from imported work orders over a period."""
    plan = get_plan(session, plan_id)
    batch_seats(plan, batch)
    counts, _ = net_complaints(session, start, end)
    figures = {d: float(counts[d].net) if d in counts else 0.0 for d in plan.departments}
    period = f"{start.isoformat() if start else '…'}–{end.isoformat() if end else '…'}"
    if not store_figures(session, plan, batch, "net_complaints", figures, f"hotline:{period}"):
        return None
    session.flush()
    return recompute(session, plan, batch, triggered_by=f"hotline import {period} (net_complaints)")
