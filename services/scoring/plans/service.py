"""Year plans (评议工作方案): created once per year, validated before anything is written."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.scoring.domain.satisfaction import SatisfactionRule
from services.scoring.models import YearPlan
from services.scoring.plans.schemas import YearPlanCreate, YearPlanOut, YearPlanUpdate
from shared.web.problems import Problem, not_found


# What a plan's ranking and its score.computed announcement depend on: changing
# one of these recomputes the batches already ranked.
RANKING_FIELDS = ("batches", "weights", "departments", "normalisation", "surplus_min_percent", "surplus_max_percent",
                  "escalation_policy")


def _checked_departments(weights: dict, departments: list[str], batches: list[int], surplus: tuple[int, int]) -> list[str]:
    """The plan's rules, checked before anything is written; the departments as stored."""
    total = sum(weights.values())
    if abs(total - 100) > 1e-9:
        raise Problem(
            422, "weights-not-100", "Weights must sum to 100 权重之和须为100%",
            f"source weights sum to {total:g}, not 100", weights_sum=total,
        )
    departments = [d.strip() for d in departments if d.strip()]
    if not departments:
        raise Problem(422, "plan-without-departments", "A plan needs candidate departments 方案须列明候选部门", "departments is empty")
    if len(set(departments)) != len(departments):
        raise Problem(422, "duplicate-departments", "Departments listed twice 候选部门重复", "each department may appear once")
    if len(set(batches)) != len(batches):
        raise Problem(422, "duplicate-batches", "Batch numbers repeat 批次重复", "each batch number may appear once")
    if surplus[0] > surplus[1]:
        raise Problem(422, "invalid-surplus", "Surplus range reversed 差额比例区间无效", "surplus_min_percent exceeds surplus_max_percent")
    return departments


def create_plan(session: Session, data: YearPlanCreate) -> YearPlan:
    departments = _checked_departments(data.weights, data.departments, [b.batch for b in data.batches],
                                       (data.surplus_min_percent, data.surplus_max_percent))
    if session.scalars(select(YearPlan.id).where(YearPlan.evaluation_year == data.evaluation_year)).first():
        raise Problem(409, "plan-exists", "A plan exists for this year 该年度已有方案", f"year {data.evaluation_year} already has a plan")
    plan = YearPlan(
        **data.model_dump(exclude={"batches", "departments", "title"}),
        title=data.title or f"{data.evaluation_year}年度专项工作评议方案",
        batches=[b.model_dump() for b in data.batches],
        departments=departments,
    )
    session.add(plan)
    session.flush()
    return plan


def update_plan(session: Session, plan_id: str, data: YearPlanUpdate) -> tuple[YearPlan, set[str]]:
    """Applies the given fields if the merged plan holds; returns the plan and
    the names of the fields that changed (none: nothing written)."""
    plan = get_plan(session, plan_id)
    given = data.model_dump(exclude_unset=True)
    if "batches" in given:
        given["batches"] = [b.model_dump() for b in data.batches]
    merged = {**{key: getattr(plan, key) for key in YearPlanUpdate.model_fields}, **given}
    merged["departments"] = _checked_departments(
        merged["weights"], merged["departments"], [b["batch"] for b in merged["batches"]],
        (merged["surplus_min_percent"], merged["surplus_max_percent"]),
    )
    merged["title"] = merged["title"].strip() or plan.title
    changed = {key for key in YearPlanUpdate.model_fields if merged[key] != getattr(plan, key)}
    for key in changed:
        setattr(plan, key, merged[key])
    session.flush()
    return plan, changed


def get_plan(session: Session, plan_id: str) -> YearPlan:
    plan = session.get(YearPlan, plan_id)
    if plan is None:
        raise not_found("year plan", plan_id)
    return plan


def plan_for(session: Session, plan_id: str | None, year: int | None) -> YearPlan | None:
    """The plan a ballot belongs to: by id when given, else by its year."""
    if plan_id:
        return session.get(YearPlan, plan_id)
    if year:
        return session.scalars(select(YearPlan).where(YearPlan.evaluation_year == year)).first()
    return None


def satisfaction_rule(plan: YearPlan) -> SatisfactionRule:
    return SatisfactionRule(denominator=plan.satisfaction_denominator, grades=plan.satisfaction_grades)


def batch_seats(plan: YearPlan, batch: int) -> int:
    for b in plan.batches:
        if b["batch"] == batch:
            return b["seats"]
    raise Problem(422, "unknown-batch", "No such batch in the plan 方案无此批次", f"plan {plan.evaluation_year} has no batch {batch}")


def plan_out(plan: YearPlan) -> YearPlanOut:
    return YearPlanOut.model_validate({c.key: getattr(plan, c.key) for c in YearPlan.__table__.columns})
