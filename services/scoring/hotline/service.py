"""12345 work-order import (streaming, idempotent by order id), the department
alias table and the net-complaint metric.

Postgres: `bulk.import_by_copy()` (the columnar reader's chunks COPY'd in).
SQLite: batched INSERT/UPDATE by primary key. Either way the import keeps `work_order_day_counts` (orders per
UTC day and the facts the metric groups by) in the same transaction as the
orders, so the metric reads those groups instead of every order."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from typing import BinaryIO

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from services.scoring.domain.complaints import EXCLUSIONS, NetComplaints, net_complaints_from_counts
from services.scoring.hotline.bulk import ImportSummary, import_by_copy, returned_key, unmatched
from services.scoring.hotline.parsing import STORED, FileFormat, FileRefused, ParsedAhead, Record, Rejection, detect_encoding, read_rows, record_values
from services.scoring.models import DepartmentAlias, WorkOrder, WorkOrderDayCount, YearPlan
from shared.web.problems import Problem

BATCH = 2000  # SQLite rows per INSERT/UPDATE


def department_names(session: Session) -> tuple[dict[str, str], set[str]]:
    """(alias → department, the known department names)."""
    aliases = dict(session.execute(select(DepartmentAlias.alias, DepartmentAlias.department)).all())
    known = set(aliases.values())
    for departments in session.scalars(select(YearPlan.departments)):
        known.update(departments)
    return aliases, known


def import_work_orders(
    session: Session,
    stream: BinaryIO,
    file_format: FileFormat,
    encoding: str | None = None,
    progress: Callable[[int], None] | None = None,
    parsed: ParsedAhead | None = None,
) -> ImportSummary:
    """Imports in the caller's transaction: a file refused as a whole (encoding,
    columns) raises Problem and the caller rolls back, so nothing is half-written.
    The day counts of the net-complaint metric change in the same transaction.
    `parsed`: the stream's chunks, started earlier with `encoding` (Postgres;
    closed here either way)."""
    encoding = encoding or detect_encoding(stream)
    try:
        if session.get_bind().dialect.name == "postgresql":
            return import_by_copy(session.connection().connection.driver_connection, stream, file_format, encoding, progress, parsed)
        if parsed is not None:
            parsed.close()
        summary, written = ImportSummary(), set()
        aliases, known = department_names(session)
        rows = read_rows(stream, file_format, encoding)
        try:
            _import_by_batches(session, rows, summary, written, progress)
        finally:
            rows.close()  # after a failure: release the stream while it is open
    except FileRefused as refused:
        raise refused.problem() from None
    session.execute(delete(WorkOrderDayCount).where(WorkOrderDayCount.orders == 0))
    summary.unmatched_departments = unmatched(written, aliases, known)
    return summary


# SQLite: batched INSERT/UPDATE by primary key; the day counts move in Python.

DayKey = tuple  # (day, final_department, request_type, valid, duplicate, unfounded, returned_by)


def _day_key(record: Record) -> DayKey:
    return (dt.date.fromisoformat(record[1][:10]), record[6], record[3], record[7], record[8] is not None, record[9], record[5])


_STORED_COLUMNS = [getattr(WorkOrder, c) for c in STORED]


def _store(session: Session, batch: dict[str, Record], summary: ImportSummary, moved: Counter) -> None:
    stored = {row.order_id: row for row in session.execute(select(*_STORED_COLUMNS).where(WorkOrder.order_id.in_(list(batch))))}
    new, changed = [], []
    for order_id, record in batch.items():
        old = stored.get(order_id)
        values = record_values(record)
        if old is None:
            new.append(values)
        elif tuple(old) != tuple(values.values()):
            changed.append(values)
            moved[(old.received_at.astimezone(dt.UTC).date(), old.final_department, old.request_type, old.valid,
                   old.duplicate_of is not None, old.unfounded, old.returned_by)] -= 1
        else:
            continue
        moved[_day_key(record)] += 1
    if new:
        session.execute(insert(WorkOrder), new)
    if changed:
        session.execute(update(WorkOrder), changed)
    summary.accepted += len(new)
    summary.updated += len(changed)
    summary.unchanged += len(batch) - len(new) - len(changed)


def _add_day_counts(session: Session, moved: Counter) -> None:
    values = [
        {"day": day, "final_department": final, "request_type": kind, "valid": valid, "duplicate": duplicate, "unfounded": unfounded,
         "returned_key": returned_key(returned), "returned_by": returned, "orders": n}
        for (day, final, kind, valid, duplicate, unfounded, returned), n in moved.items()
        if n
    ]
    moved.clear()
    if not values:
        return
    statement = sqlite_insert(WorkOrderDayCount)
    statement = statement.on_conflict_do_update(
        index_elements=[c.name for c in WorkOrderDayCount.__table__.primary_key.columns],
        set_={"orders": WorkOrderDayCount.orders + statement.excluded.orders},
    )
    session.execute(statement, values)


def _import_by_batches(session: Session, rows, summary: ImportSummary, written: set[str], progress) -> None:
    batch: dict[str, Record] = {}
    moved: Counter = Counter()
    for _, row in rows:
        if row.__class__ is Rejection:
            summary.reject(row)
            continue
        written.update((row[4], row[5], row[6]))
        if row[0] in batch:
            # The same order twice in one file: the later row stands.
            _store(session, batch, summary, moved)
            batch = {}
        batch[row[0]] = row
        if len(batch) >= BATCH:
            _store(session, batch, summary, moved)
            if progress:
                progress(len(batch))
            batch = {}
            if len(moved) >= 10 * BATCH:
                _add_day_counts(session, moved)
    if batch:
        _store(session, batch, summary, moved)
        if progress:
            progress(len(batch))
    _add_day_counts(session, moved)


def _utc(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def split_period(start: dt.datetime | None, end: dt.datetime | None) -> tuple[tuple[dt.date | None, dt.date | None] | None, list[tuple[dt.datetime | None, dt.datetime | None]]]:
    """[start, end) as the whole UTC days in it (first day, day after the last),
    read from the day counts, and the parts of days at either end, read from
    the orders. None instead of the days when the period holds no whole day."""
    start, end = _utc(start), _utc(end)
    first = None if start is None else start.date() + dt.timedelta(days=0 if start == _midnight(start.date()) else 1)
    last = None if end is None else end.date()
    if first is not None and last is not None and first >= last:
        return None, [(start, end)]
    edges = []
    if start is not None and start != _midnight(first):
        edges.append((start, _midnight(first)))
    if end is not None and end != _midnight(last):
        edges.append((_midnight(last), end))
    return (first, last), edges


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
    c = WorkOrderDayCount
    rows = session.execute(select(c.final_department, func.sum(c.orders)).group_by(c.final_department))
    return sorted(
        ({"name": name, "orders": n} for name, n in rows if name and n and name not in aliases and name not in known),
        key=lambda r: (-r["orders"], r["name"]),
    )


Groups = list  # (final unit as written, request type, valid, duplicate, unfounded, orders)
Returns = list  # (final unit as written, returning units joined by "|", orders)


def groups_from_day_counts(session: Session, first: dt.date | None, last: dt.date | None) -> tuple[Groups, Returns]:
    """The metric's groups over whole UTC days [first, last)."""
    c = WorkOrderDayCount
    where = [*([c.day >= first] if first else []), *([c.day < last] if last else [])]
    facts = (c.final_department, c.request_type, c.valid, c.duplicate, c.unfounded)
    groups = session.execute(select(*facts, func.sum(c.orders)).where(*where).group_by(*facts)).all()
    returns = session.execute(
        select(c.final_department, c.returned_by, func.sum(c.orders)).where(*where, c.returned_key != "").group_by(c.final_department, c.returned_by)
    ).all()
    return groups, returns


def groups_from_orders(session: Session, start: dt.datetime | None, end: dt.datetime | None) -> tuple[Groups, Returns]:
    """The metric's groups counted from the orders received in [start, end)."""
    w = WorkOrder
    where = [*([w.received_at >= start] if start else []), *([w.received_at < end] if end else [])]
    facts = (w.final_department, w.request_type, w.valid, w.duplicate_of.is_not(None), w.unfounded)
    groups = session.execute(select(*facts, func.count()).where(*where).group_by(*facts)).all()
    returns = session.execute(
        select(w.final_department, w.returned_by, func.count()).where(*where, w.returned_by != "").group_by(w.final_department, w.returned_by)
    ).all()
    return groups, returns


def net_complaints(
    session: Session, start: dt.datetime | None, end: dt.datetime | None, *, from_orders: bool = False,
) -> tuple[dict[str, NetComplaints], dict[str, int]]:
    """Per matched department, the net figure and every exclusion; plus the
    orders whose responsible unit matches no department, by name. Whole days
    come from the day counts, the hours at either end of the period from the
    orders themselves (`from_orders`: everything from the orders, the slow way
    kept as the benchmark's baseline)."""
    aliases, known = department_names(session)

    def canonical(name: str) -> str | None:
        return aliases.get(name) or (name if name in known else None)

    days, edges = (None, [(_utc(start), _utc(end))]) if from_orders else split_period(start, end)
    groups: Groups = []
    returns: Returns = []
    for part_groups, part_returns in [
        *([groups_from_day_counts(session, *days)] if days is not None else []),
        *(groups_from_orders(session, edge_start, edge_end) for edge_start, edge_end in edges),
    ]:
        groups += part_groups
        returns += part_returns
    return net_complaints_from_counts(groups, returns, canonical)


__all__ = ["EXCLUSIONS", "ImportSummary", "add_alias", "import_work_orders", "net_complaints", "unmatched_names"]
