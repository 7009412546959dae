"""Scoring's tables: graded satisfaction votes (year plans and composites come later)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Date, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import IdColumnType, UTCDateTime, new_id, new_metadata
from shared.messaging.events import utcnow, topics_produced_by
from shared.messaging.inbox import InboxMixin
from shared.messaging.outbox import OutboxMixin
from shared.security.tables import ApiKeyMixin, AuditMixin, IdempotencyKeyMixin, SecurityModels
from shared.messaging.webhooks import WebhookDeliveryMixin, WebhookModels, WebhookSubscriptionMixin


class Base(DeclarativeBase):
    metadata = new_metadata()


class SatisfactionResult(Base):
    """One satisfaction ballot graded under a rule."""

    __tablename__ = "satisfaction_results"
    __table_args__ = (UniqueConstraint("ballot_id"),)

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    ballot_id: Mapped[str] = mapped_column(String(36))
    department: Mapped[str] = mapped_column(String(200), index=True)
    evaluation_year: Mapped[int] = mapped_column(Integer, index=True)
    vote_round: Mapped[int] = mapped_column(Integer)
    meeting_id: Mapped[str] = mapped_column(String(36))
    meeting_number: Mapped[str] = mapped_column(String(100))
    meeting_date: Mapped[dt.date] = mapped_column(Date)
    counts: Mapped[dict] = mapped_column(JSON)
    invalid: Mapped[int] = mapped_column(Integer)
    votes_cast: Mapped[int] = mapped_column(Integer)
    present: Mapped[int] = mapped_column(Integer)
    members_total: Mapped[int] = mapped_column(Integer)
    show_of_hands: Mapped[bool] = mapped_column(default=False)
    grade: Mapped[str] = mapped_column(String(30))
    denominator: Mapped[int] = mapped_column(Integer)
    denominator_basis: Mapped[str] = mapped_column(String(20))
    grades_in_rule: Mapped[int] = mapped_column(Integer)
    # 1 for this department's first 不满意 of the year, 2 for the second, …
    unsatisfied_round: Mapped[int | None] = mapped_column(Integer)
    source_event_id: Mapped[str] = mapped_column(String(36))
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


# Tables declared by shared mixins, one line each.
class OutboxMessage(OutboxMixin, Base): pass
class InboxMessage(InboxMixin, Base): pass
class YearPlan(Base):
    """评议工作方案: one evaluation year's batches, weights, candidates and rules."""

    __tablename__ = "year_plans"
    __table_args__ = (UniqueConstraint("evaluation_year"),)

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    evaluation_year: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    # [{"batch": 1, "selection_month": 2, "seats": 6, "review_month": 8}, …]
    batches: Mapped[list] = mapped_column(JSON)
    weights: Mapped[dict] = mapped_column(JSON)
    departments: Mapped[list] = mapped_column(JSON)
    normalisation: Mapped[str] = mapped_column(String(20), default="min_max")
    surplus_min_percent: Mapped[int] = mapped_column(Integer, default=20)
    surplus_max_percent: Mapped[int] = mapped_column(Integer, default=50)
    satisfaction_denominator: Mapped[str] = mapped_column(String(20), default="all_members")
    satisfaction_grades: Mapped[int] = mapped_column(Integer, default=3)
    escalation_policy: Mapped[str] = mapped_column(String(40), default="written_self_examination")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class SourceFigures(Base):
    """The latest raw figures of one source for one plan batch (department → figure)."""

    __tablename__ = "source_figures"
    __table_args__ = (UniqueConstraint("plan_id", "batch", "source"),)

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    plan_id: Mapped[str] = mapped_column(String(36), index=True)
    batch: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(40))
    figures: Mapped[dict] = mapped_column(JSON)
    # "api:<who>" or "ballot:<ballot id>"
    submitted_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ScoreComputation(Base):
    """One composite computation kept whole: who asked, when, the inputs, the result."""

    __tablename__ = "score_computations"

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    plan_id: Mapped[str] = mapped_column(String(36), index=True)
    batch: Mapped[int] = mapped_column(Integer)
    seats: Mapped[int] = mapped_column(Integer)
    triggered_by: Mapped[str] = mapped_column(String(200))
    inputs: Mapped[dict] = mapped_column(JSON)
    ranking: Mapped[list] = mapped_column(JSON)
    slate: Mapped[list] = mapped_column(JSON)
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


def _bytewise(length: int) -> String:
    """A string compared byte by byte on Postgres (COLLATE "C": memcmp, not
    strcoll); SQLite's default collation already is."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


class WorkOrder(Base):
    """One 12345 hotline work order (工单), as last imported. Department names are
    kept as the platform wrote them and matched through the alias table when
    counted, so a new alias applies to orders already imported."""

    __tablename__ = "work_orders"
    # BRIN on Postgres (migration 0011): orders arrive in time order, and the
    # metric reads only the part days at the ends of a period from here. Each
    # import summarises the ranges it filled (0012: no autosummarize).
    __table_args__ = (
        Index("ix_work_orders_received_at", "received_at", postgresql_using="brin", postgresql_with={"pages_per_range": 32, "autosummarize": "off"}),
    )

    order_id: Mapped[str] = mapped_column(_bytewise(64), primary_key=True)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    channel: Mapped[str] = mapped_column(String(40), default="")
    request_type: Mapped[str] = mapped_column(String(20))
    # Department names joined by "|", in dispatch order.
    dispatched_to: Mapped[str] = mapped_column(String(1000), default="")
    returned_by: Mapped[str] = mapped_column(String(1000), default="")
    final_department: Mapped[str] = mapped_column(String(200), default="")
    valid: Mapped[bool] = mapped_column(default=True)
    duplicate_of: Mapped[str | None] = mapped_column(String(64))
    unfounded: Mapped[bool] = mapped_column(default=False)
    satisfaction: Mapped[str | None] = mapped_column(String(20))
    # No digest column: a re-import compares these columns themselves (an order
    # with the same values changes nothing).


class WorkOrderDayCount(Base):
    """How many work orders share one UTC day and the facts the net-complaint
    metric groups by. The import keeps it in the same transaction as the orders
    (a re-imported order moves from its old group to its new one), so the metric
    reads these few rows instead of every order."""

    __tablename__ = "work_order_day_counts"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    # Key columns compared byte by byte on Postgres (migration 0011): equality is all the key needs.
    final_department: Mapped[str] = mapped_column(_bytewise(200), primary_key=True)
    request_type: Mapped[str] = mapped_column(_bytewise(20), primary_key=True)
    valid: Mapped[bool] = mapped_column(primary_key=True)
    duplicate: Mapped[bool] = mapped_column(primary_key=True)
    unfounded: Mapped[bool] = mapped_column(primary_key=True)
    # md5 of returned_by, "" when no unit returned the order: keeps the key short.
    returned_key: Mapped[str] = mapped_column(_bytewise(32), primary_key=True)
    returned_by: Mapped[str] = mapped_column(String(1000))
    orders: Mapped[int] = mapped_column(Integer)


class DepartmentAlias(Base):
    """A name the hotline uses (市教育局) for a department (淄博市教育局)."""

    __tablename__ = "department_aliases"

    alias: Mapped[str] = mapped_column(String(200), primary_key=True)
    department: Mapped[str] = mapped_column(String(200), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PublishedRanking(Base):
    """A batch's ranking made public: the computation in force when its
    selection vote (差额票决) closed, the moment the selection meeting was held."""

    __tablename__ = "published_rankings"
    __table_args__ = (UniqueConstraint("plan_id", "batch"),)

    id: Mapped[str] = mapped_column(IdColumnType(), primary_key=True, default=new_id)
    plan_id: Mapped[str] = mapped_column(String(36))
    batch: Mapped[int] = mapped_column(Integer)
    computation_id: Mapped[str] = mapped_column(String(36))
    selection_ballot_id: Mapped[str] = mapped_column(String(36))
    meeting_number: Mapped[str] = mapped_column(String(100))
    meeting_date: Mapped[dt.date] = mapped_column(Date)
    published_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


# Tables declared by shared mixins, one line each.
class ApiKey(ApiKeyMixin, Base): pass
class IdempotencyKey(IdempotencyKeyMixin, Base): pass
class AuditEntry(AuditMixin, Base): pass

SECURITY_MODELS = SecurityModels(api_key=ApiKey, idempotency_key=IdempotencyKey, audit_entry=AuditEntry)


# Tables declared by shared mixins, one line each.
class WebhookSubscription(WebhookSubscriptionMixin, Base): pass
class WebhookDelivery(WebhookDeliveryMixin, Base): pass

WEBHOOKS = WebhookModels(subscription=WebhookSubscription, delivery=WebhookDelivery, topics=topics_produced_by("scoring"))
