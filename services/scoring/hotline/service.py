"""12345 work-order import (streaming, idempotent by order id), the department
alias table and the net-complaint metric."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

from sqlalchemy import and_, func, insert, select, true, update
from sqlalchemy.orm import Session

from services.scoring.domain.complaints import EXCLUSIONS, NetComplaints, WorkOrderFacts, classify
from services.scoring.hotline.parsing import FileFormat, Rejection, read_rows
from services.scoring.models import DepartmentAlias, WorkOrder, YearPlan
from shared.problems import Problem

BATCH = 2000
MAX_REJECTIONS_LISTED = 1000


@dataclass
class ImportSummary:
    accepted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    unmatched_departments: list[str] = field(default_factory=list)


def department_names(session: Session) -> tuple[dict[str, str], set[str]]:
    """(alias → department, the known department names)."""
    aliases = dict(session.execute(select(DepartmentAlias.alias, DepartmentAlias.department)).all())
    known = set(aliases.values())
    for departments in session.scalars(select(YearPlan.departments)):
        known.update(departments)
    return aliases, known


def _store(session: Session, batch: dict[str, dict], summary: ImportSummary) -> None:
    stored = dict(
        session.execute(select(WorkOrder.order_id, WorkOrder.row_digest).where(WorkOrder.order_id.in_(list(batch)))).all()
    )
    new = [r for oid, r in batch.items() if oid not in stored]
    changed = [r for oid, r in batch.items() if oid in stored and stored[oid] != r["row_digest"]]
    if new:
        session.execute(insert(WorkOrder), new)
    if changed:
        session.execute(update(WorkOrder), changed)
    summary.accepted += len(new)
    summary.updated += len(changed)
    summary.unchanged += len(batch) - len(new) - len(changed)


def import_work_orders(
    session: Session,
    stream: BinaryIO,
    file_format: FileFormat,
    encoding: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Imports in the caller's transaction: a file refused as a whole (encoding,
    columns) raises Problem and the caller rolls back, so nothing is half-written."""
    summary = ImportSummary()
    aliases, known = department_names(session)
    seen_names: set[str] = set()
    rows = read_rows(stream, file_format, encoding)
    if session.get_bind().dialect.name == "postgresql":
        _import_by_copy(session, rows, summary, seen_names, progress)
    else:
        _import_by_batches(session, rows, summary, seen_names, progress)
    summary.unmatched_departments = sorted(n for n in seen_names if n not in aliases and n not in known)
    return summary


def _note(row: dict | Rejection, summary: ImportSummary, seen_names: set[str]) -> bool:
    """Counts a rejection (False) or collects an accepted row's department names (True)."""
    if isinstance(row, Rejection):
        summary.rejected += 1
        if len(summary.rejections) < MAX_REJECTIONS_LISTED:
            summary.rejections.append(row)
        return False
    for names in (row["final_department"], row["returned_by"], row["dispatched_to"]):
        if names:
            seen_names.update(names.split("|"))
    return True


def _import_by_batches(session: Session, rows, summary: ImportSummary, seen_names: set[str], progress) -> None:
    batch: dict[str, dict] = {}
    for _, row in rows:
        if not _note(row, summary, seen_names):
            continue
        if row["order_id"] in batch:
            # The same order twice in one file: the later row stands.
            _store(session, batch, summary)
            batch = {}
        batch[row["order_id"]] = row
        if len(batch) >= BATCH:
            _store(session, batch, summary)
            if progress:
                progress(len(batch))
            batch = {}
    if batch:
        _store(session, batch, summary)
        if progress:
            progress(len(batch))


STORED = ("order_id", "received_at", "channel", "request_type", "dispatched_to", "returned_by", "final_department", "valid", "duplicate_of", "unfounded", "satisfaction", "row_digest")
COPY_CHUNK = 100_000
_STAGING = f"""CREATE TEMP TABLE IF NOT EXISTS work_order_staging (seq bigint, {", ".join(f"{c} {t}" for c, t in zip(STORED, (
    "varchar(64)", "timestamptz", "varchar(40)", "varchar(20)", "varchar(1000)", "varchar(1000)", "varchar(200)", "boolean", "varchar(64)", "boolean", "varchar(20)", "varchar(32)"), strict=True))}) ON COMMIT DROP"""
_MERGE = f"""
WITH src AS (
    SELECT DISTINCT ON (order_id) {", ".join(STORED)} FROM work_order_staging ORDER BY order_id, seq DESC
), up AS (
    INSERT INTO work_orders ({", ".join(STORED)}) SELECT {", ".join(STORED)} FROM src
    ON CONFLICT (order_id) DO UPDATE SET {", ".join(f"{c} = EXCLUDED.{c}" for c in STORED[1:])}
    WHERE work_orders.row_digest <> EXCLUDED.row_digest
    RETURNING (xmax = 0) AS inserted
)
SELECT (SELECT count(*) FROM src), count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up
"""


def _import_by_copy(session: Session, rows, summary: ImportSummary, seen_names: set[str], progress) -> None:
    """Postgres: COPY each chunk into a staging table, then one INSERT … ON CONFLICT
    that inserts new orders and updates only those whose digest changed."""
    cursor = session.connection().connection.driver_connection.cursor()
    cursor.execute(_STAGING)
    cursor.execute("TRUNCATE work_order_staging")
    seq, exhausted = 0, False
    while not exhausted:
        staged = 0
        with cursor.copy(f"COPY work_order_staging (seq, {', '.join(STORED)}) FROM STDIN") as copy:
            for _, row in rows:
                if not _note(row, summary, seen_names):
                    continue
                seq += 1
                staged += 1
                copy.write_row((seq, *(row[c] for c in STORED)))
                if staged >= COPY_CHUNK:
                    break
            else:
                exhausted = True
        if staged:
            cursor.execute(_MERGE)
            distinct, inserted, updated = cursor.fetchone()
            summary.accepted += inserted
            summary.updated += updated
            summary.unchanged += distinct - inserted - updated
            cursor.execute("TRUNCATE work_order_staging")
            if progress:
                progress(staged)


def add_alias(session: Session, alias: str, department: str) -> DepartmentAlias:
    alias, department = alias.strip(), department.strip()
    if not alias or not department:
        raise Problem(422, "empty-name", "Names cannot be empty 名称不能为空", "alias and department are required")
    existing = session.get(DepartmentAlias, alias)
    if existing is not None:
        if existing.department != department:
            raise Problem(409, "alias-taken", "Alias already mapped 别名已对应其他部门", f"{alias} already means {existing.department}", department=existing.department)
        return existing
    row = DepartmentAlias(alias=alias, department=department)
    session.add(row)
    session.flush()
    return row


def unmatched_names(session: Session) -> list[dict]:
    """Final responsible units no alias or plan names, with how many orders each."""
    aliases, known = department_names(session)
    rows = session.execute(select(WorkOrder.final_department, func.count()).group_by(WorkOrder.final_department))
    return sorted(
        ({"name": name, "orders": n} for name, n in rows if name and name not in aliases and name not in known),
        key=lambda r: (-r["orders"], r["name"]),
    )


def net_complaints(session: Session, start: dt.datetime | None, end: dt.datetime | None) -> tuple[dict[str, NetComplaints], dict[str, int]]:
    """Per matched department, the net figure and every exclusion; plus the
    orders whose responsible unit matches no department, by name."""
    aliases, known = department_names(session)

    def canonical(name: str) -> str | None:
        return aliases.get(name) or (name if name in known else None)

    period = []
    if start:
        period.append(WorkOrder.received_at >= start)
    if end:
        period.append(WorkOrder.received_at < end)
    where = and_(true(), *period)
    result: dict[str, NetComplaints] = {}
    unmatched: dict[str, int] = {}

    def entry(department: str) -> NetComplaints:
        return result.setdefault(department, NetComplaints(department))

    # The grouped counts come from SQL; only the few groups are classified here.
    groups = session.execute(
        select(
            WorkOrder.final_department,
            WorkOrder.request_type,
            WorkOrder.valid,
            WorkOrder.duplicate_of.is_not(None),
            WorkOrder.unfounded,
            func.count(),
        )
        .where(where)
        .group_by(WorkOrder.final_department, WorkOrder.request_type, WorkOrder.valid, WorkOrder.duplicate_of.is_not(None), WorkOrder.unfounded)
    )
    for name, kind, valid, duplicate, unfounded, n in groups:
        department = canonical(name)
        if department is None:
            unmatched[name] = unmatched.get(name, 0) + n
            continue
        reason = classify(WorkOrderFacts(kind, department, valid, "dup" if duplicate else None, unfounded))
        e = entry(department)
        e.received += n
        if reason is None:
            e.net += n
        else:
            e.excluded[reason] += n
    returns = session.execute(
        select(WorkOrder.final_department, WorkOrder.returned_by, func.count())
        .where(where, WorkOrder.returned_by != "")
        .group_by(WorkOrder.final_department, WorkOrder.returned_by)
    )
    for final_name, returned, n in returns:
        final = canonical(final_name)
        for department in {canonical(r) for r in returned.split("|")} - {final, None}:
            e = entry(department)
            e.received += n
            e.excluded["redispatched_away"] += n
    return result, unmatched


__all__ = ["EXCLUSIONS", "ImportSummary", "add_alias", "import_work_orders", "net_complaints", "unmatched_names"]
