"""Grading satisfaction ballots as they close (ballot.closed)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.scoring.domain.satisfaction import GRADE_LABELS, SatisfactionCount, SatisfactionRule, grade_satisfaction
from services.scoring.models import OutboxMessage, SatisfactionResult
from services.scoring.plans.service import plan_for, satisfaction_rule
from services.scoring.satisfaction.schemas import SatisfactionResultOut
from shared.messaging.events import BallotClosed, Envelope, SatisfactionScore, ScoreComputed, VoteMarkedUnsatisfied
from shared.messaging.outbox import publish
from shared.web.pagination import Page, paginate
from shared.web.problems import not_found


def _unsatisfied_so_far(session: Session, department: str, year: int) -> int:
    return session.scalar(
        select(func.count(SatisfactionResult.id)).where(
            SatisfactionResult.department == department,
            SatisfactionResult.evaluation_year == year,
            SatisfactionResult.grade == "unsatisfied",
        )
    ) or 0


def grade_closed_ballot(session: Session, envelope: Envelope, rule: SatisfactionRule) -> SatisfactionResult | None:
    event = BallotClosed.from_envelope(envelope)
    if event.ballot_kind != "satisfaction" or event.subject is None:
        return None  # other ballots feed the composite score, not grades
    existing = session.scalars(select(SatisfactionResult).where(SatisfactionResult.ballot_id == event.ballot_id)).first()
    if existing is not None:
        # The same close announced again under a new event id: graded already.
        return existing
    tally, subject = event.tally, event.subject
    rule = rule_for_ballot(session, event, rule)
    graded = grade_satisfaction(
        SatisfactionCount(
            satisfied=tally.counts.get("satisfied", 0),
            basically_satisfied=tally.counts.get("basically_satisfied", 0),
            unsatisfied=tally.counts.get("unsatisfied", 0),
            present=tally.present,
            members_total=tally.members_total,
        ),
        rule,
    )
    unsatisfied_round = None
    if graded.grade == "unsatisfied":
        unsatisfied_round = _unsatisfied_so_far(session, subject.department, subject.evaluation_year) + 1
    result = SatisfactionResult(
        ballot_id=event.ballot_id,
        department=subject.department,
        evaluation_year=subject.evaluation_year,
        vote_round=subject.vote_round,
        meeting_id=event.meeting_id,
        meeting_number=event.meeting_number,
        meeting_date=event.meeting_date,
        counts=dict(tally.counts),
        invalid=tally.invalid,
        votes_cast=tally.votes_cast,
        present=tally.present,
        members_total=tally.members_total,
        show_of_hands=tally.show_of_hands,
        grade=graded.grade,
        denominator=graded.denominator,
        denominator_basis=graded.basis,
        grades_in_rule=rule.grades,
        unsatisfied_round=unsatisfied_round,
        source_event_id=str(envelope.event_id),
    )
    session.add(result)
    session.flush()
    publish(
        session,
        OutboxMessage,
        ScoreComputed(
            computation_id=result.id,
            kind="satisfaction",
            satisfaction=SatisfactionScore(
                ballot_id=event.ballot_id,
                department=subject.department,
                evaluation_year=subject.evaluation_year,
                vote_round=subject.vote_round,
                meeting_id=event.meeting_id,
                meeting_date=event.meeting_date,
                grade=graded.grade,
                grade_label=graded.label,
                counts=dict(tally.counts),
                denominator=graded.denominator,
                denominator_basis=graded.basis,
            ),
        ),
        producer="scoring",
        key=subject.department,
    )
    if unsatisfied_round is not None:
        publish(
            session,
            OutboxMessage,
            VoteMarkedUnsatisfied(
                department=subject.department,
                evaluation_year=subject.evaluation_year,
                unsatisfied_round=unsatisfied_round,
                vote_round=subject.vote_round,
                ballot_id=event.ballot_id,
                meeting_id=event.meeting_id,
                meeting_date=event.meeting_date,
            ),
            producer="scoring",
            key=subject.department,
        )
    return result


def rule_for_ballot(session: Session, event: BallotClosed, default: SatisfactionRule) -> SatisfactionRule:
    """The plan's rule when the ballot's plan is known (by id, else by year);
    the configured default when no plan covers the year."""
    plan = plan_for(session, event.plan_id, None if event.plan_id else (event.subject.evaluation_year if event.subject else None))
    if event.plan_id and plan is None:
        # Parked in the inbox (pingyi events parked scoring) until the plan exists.
        raise LookupError(f"ballot {event.ballot_id} names unknown year plan {event.plan_id}")
    return satisfaction_rule(plan) if plan is not None else default


def result_out(result: SatisfactionResult) -> SatisfactionResultOut:
    return SatisfactionResultOut.model_validate(
        {**{c.key: getattr(result, c.key) for c in SatisfactionResult.__table__.columns}, "grade_label": GRADE_LABELS[result.grade]}
    )


def list_results(session: Session, department: str | None, year: int | None, *, limit: int, cursor: str | None) -> Page[SatisfactionResultOut]:
    stmt = select(SatisfactionResult)
    if department:
        stmt = stmt.where(SatisfactionResult.department == department)
    if year:
        stmt = stmt.where(SatisfactionResult.evaluation_year == year)
    order = [SatisfactionResult.meeting_date, SatisfactionResult.computed_at, SatisfactionResult.id]
    return paginate(session, stmt, order, limit=limit, cursor=cursor, to_item=result_out)


def get_result_by_ballot(session: Session, ballot_id: str) -> SatisfactionResult:
    result = session.scalars(select(SatisfactionResult).where(SatisfactionResult.ballot_id == ballot_id)).first()
    if result is None:
        raise not_found("satisfaction result for ballot", ballot_id)
    return result
