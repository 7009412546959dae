"""12345 work-order import (streaming, idempotent by order id), the department
alias table and the net-complaint metric.

Postgres: the columnar reader (`columnar.py`, in a parser process of its own
for a large file) gives chunks of rows; new orders are COPY'd straight into
work_orders, a chunk holding stored orders goes through a staging table
(changed ones updated, the rest left alone). SQLite: batched INSERT/UPDATE by
primary key. Either way the import keeps `work_order_day_counts` (orders per
UTC day and the facts the metric groups by) in the same transaction as the
orders, so the metric reads those groups instead of every order."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

import psycopg
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from services.scoring.domain.complaints import EXCLUSIONS, NetComplaints, net_complaints_from_counts
from services.scoring.hotline.parsing import (
    COPY_CHUNK,
    MAX_REJECTIONS_LISTED,
    STORED,
    FileFormat,
    FileRefused,
    Record,
    Rejection,
    WORKER_MIN_BYTES,
    chunks_in_worker,
    detect_encoding,
    worker_wanted,
    read_rows,
    record_values,
)
from services.scoring.models import DepartmentAlias, WorkOrder, WorkOrderDayCount, YearPlan
from shared.web.problems import Problem

BATCH = 2000  # SQLite rows per INSERT/UPDATE
ANALYZE_ORDERS_FROM = 10_000  # orders written by one import
# pg_advisory_xact_lock key: one import at a time keeps the day counts exact.
IMPORT_LOCK = 0x50_79_6E_67_79_31_32_33


@dataclass
class ImportSummary:
    accepted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    unmatched_departments: list[str] = field(default_factory=list)

    def reject(self, rejection: Rejection) -> None:
        self.rejected += 1
        if len(self.rejections) < MAX_REJECTIONS_LISTED:
            self.rejections.append(rejection)


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
    parsed=None,
) -> ImportSummary:
    """Imports in the caller's transaction: a file refused as a whole (encoding,
    columns) raises Problem and the caller rolls back, so nothing is half-written.
    The day counts of the net-complaint metric change in the same transaction.
    `parsed`: the stream's chunks from `chunks_in_worker()`, started earlier
    with `encoding` (Postgres; closed here either way)."""
    summary = ImportSummary()
    aliases, known = department_names(session)
    written: set[str] = set()  # name fields as written; split once at the end
    encoding = encoding or detect_encoding(stream)
    postgres = session.get_bind().dialect.name == "postgresql"
    try:
        if postgres:
            _import_by_copy(session, stream, file_format, encoding, summary, written, progress, parsed)
        else:
            if parsed is not None:
                parsed.close()
            rows = read_rows(stream, file_format, encoding)
            try:
                _import_by_batches(session, rows, summary, written, progress)
            finally:
                rows.close()  # after a failure: release the stream while it is open
    except FileRefused as refused:
        raise refused.problem() from None
    session.execute(delete(WorkOrderDayCount).where(WorkOrderDayCount.orders == 0))
    if postgres and summary.accepted + summary.updated:
        # Fresh statistics, so the metric's plan fits the counts it reads right
        # after a large import (ANALYZE blocks neither readers nor writers).
        session.execute(text("ANALYZE work_order_day_counts"))
        if summary.accepted + summary.updated >= ANALYZE_ORDERS_FROM:
            # Only what the metric's part-day query filters and groups by: the long text columns cost the most to sample.
            session.execute(text("ANALYZE work_orders (received_at, final_department, request_type, valid, duplicate_of, unfounded, returned_by)"))
    seen_names: set[str] = set()
    for names in written:
        if names:
            seen_names.update(names.split("|"))
    summary.unmatched_departments = sorted(n for n in seen_names if n not in aliases and n not in known)
    return summary


# SQLite: batched INSERT/UPDATE by primary key; the day counts move in Python.

DayKey = tuple  # (day, final_department, request_type, valid, duplicate, unfounded, returned_by)


def _day_key(record: Record) -> DayKey:
    return (dt.date.fromisoformat(record[1][:10]), record[6], record[3], record[7], record[8] is not None, record[9], record[5])


def returned_key(returned_by: str) -> str:
    return hashlib.md5(returned_by.encode(), usedforsecurity=False).hexdigest() if returned_by else ""


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


# Postgres: new orders COPY'd straight into work_orders; changed ones through a
# staging table; the day counts summed here and added in a few statements.

_STAGING = f"""CREATE TEMP TABLE IF NOT EXISTS work_order_staging (LIKE work_orders) ON COMMIT DROP"""
_DAY_FACTS = ("day", "final_department", "request_type", "valid", "duplicate", "unfounded", "returned_by")
_DAY_STAGING = """CREATE TEMP TABLE IF NOT EXISTS work_order_day_staging (LIKE work_order_day_counts) ON COMMIT DROP"""
_DAY_MERGE = f"""
INSERT INTO work_order_day_counts AS c ({", ".join(_DAY_FACTS)}, returned_key, orders)
SELECT {", ".join(_DAY_FACTS)}, returned_key, orders FROM work_order_day_staging
ON CONFLICT (day, final_department, request_type, valid, duplicate, unfounded, returned_key) DO UPDATE SET orders = c.orders + EXCLUDED.orders
"""
_DAYS_HELD = "SELECT EXISTS (SELECT FROM work_order_day_counts WHERE day BETWEEN %s AND %s)"
_COPY = f"COPY {{table}} ({', '.join(STORED)}) FROM STDIN (FORMAT {{format}}, ENCODING 'UTF8')"
DAY_COUNTS_HELD = 100_000  # day-count groups summed here before they are written


class _DayCounts:
    """Orders per day-count group, moved by this import (Arrow tables, summed
    and written in batches)."""

    def __init__(self, cursor) -> None:
        self.cursor, self.parts, self.held = cursor, [], 0
        cursor.execute(_DAY_STAGING)

    def add(self, groups) -> None:
        """`groups`: a table of `columnar.DAY_SCHEMA`."""
        self.parts.append(groups)
        self.held += groups.num_rows
        if self.held >= DAY_COUNTS_HELD:
            self.write()

    def write(self) -> None:
        from services.scoring.hotline.columnar import summed_day_copy

        parts, self.parts, self.held = self.parts, [], 0
        summed = summed_day_copy(parts, returned_key) if parts else None
        if summed is None:
            return
        data, first, last, added = summed
        # No group stored yet on these days (a new stretch of time, the usual
        # case): straight in, without the staging table and its ON CONFLICT.
        # Imports hold IMPORT_LOCK, so no other one adds groups meanwhile.
        direct = added and not self.cursor.execute(_DAYS_HELD, (first, last)).fetchone()[0]
        table = "work_order_day_counts" if direct else "work_order_day_staging"
        with self.cursor.copy(f"COPY {table} ({', '.join(_DAY_FACTS)}, returned_key, orders) FROM STDIN (FORMAT binary)") as copy:
            copy.write(data)
        if not direct:
            self.cursor.execute(_DAY_MERGE)
            self.cursor.execute("TRUNCATE work_order_day_staging")


def _copy(cursor, table: str, chunk) -> None:
    with cursor.copy(_COPY.format(table=table, format=chunk.copy_format)) as copy:
        copy.write(chunk.copy_data)


def _import_by_copy(session: Session, stream: BinaryIO, file_format: FileFormat, encoding: str, summary: ImportSummary, written: set[str], progress, parsed=None) -> None:
    """Chunks of rows from the columnar reader. While the orders of a file are
    new, a chunk goes straight into work_orders by COPY (in a savepoint: an
    order already stored fails it, and the chunk is taken again the careful
    way). Otherwise the chunk's orders are looked up: new ones are COPY'd in,
    changed ones (another digest) updated from a staging table, the rest left
    alone. A large file is parsed in a parser process while this thread feeds
    Postgres."""
    from services.scoring.hotline.columnar import column_chunks, day_counts, day_groups  # pyarrow: Postgres only

    try:
        connection = session.connection().connection.driver_connection
        cursor = connection.cursor()
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", (IMPORT_LOCK,))
        cursor.execute(_STAGING)
        counts = _DayCounts(cursor)
    except BaseException:
        if parsed is not None:
            parsed.close()
        raise
    chunks = parsed
    if chunks is None and worker_wanted(stream, WORKER_MIN_BYTES):
        try:
            chunks = chunks_in_worker(stream, file_format, encoding, COPY_CHUNK, MAX_REJECTIONS_LISTED)
        except OSError:
            pass  # no Python to start here: parse in this process
    if chunks is None:
        chunks = column_chunks(stream, file_format, encoding, COPY_CHUNK, MAX_REJECTIONS_LISTED)
    all_new = True  # so far every order of the file was new
    try:
        for chunk in chunks:
            summary.rejected += chunk.rejected
            summary.rejections += chunk.rejections[: MAX_REJECTIONS_LISTED - len(summary.rejections)]
            written.update(chunk.names)
            if chunk.rows and all_new:
                cursor.execute("SAVEPOINT work_order_chunk")
                try:
                    _copy(cursor, "work_orders", chunk)
                except psycopg.errors.UniqueViolation:
                    cursor.execute("ROLLBACK TO SAVEPOINT work_order_chunk")
                    all_new = False
                else:
                    cursor.execute("RELEASE SAVEPOINT work_order_chunk")
                    summary.accepted += chunk.rows
                    counts.add(day_counts(chunk.table))
            if chunk.rows and not all_new:
                all_new = _merge_chunk(cursor, chunk, summary, counts, day_counts, day_groups)
            if progress:
                progress(chunk.rows)
        counts.write()
    finally:
        chunks.close()


# A stored order is unchanged when all its columns are (NULLs alike).
_CHANGED = f"({', '.join('w.' + c for c in STORED[1:])}) IS DISTINCT FROM ({', '.join('s.' + c for c in STORED[1:])})"
_STORED_ROWS = f"""SELECT s.order_id, NOT {_CHANGED} FROM work_order_staging AS s JOIN work_orders AS w USING (order_id)"""
_INSERT_NEW = f"""INSERT INTO work_orders ({", ".join(STORED)}) SELECT {", ".join(STORED)} FROM work_order_staging AS s
WHERE NOT EXISTS (SELECT FROM work_orders AS w WHERE w.order_id = s.order_id)"""
_OLD_FACTS = f"""SELECT (w.received_at AT TIME ZONE 'UTC')::date, w.final_department, w.request_type, w.valid, w.duplicate_of IS NOT NULL, w.unfounded,
    w.returned_by, count(*)
FROM work_orders AS w JOIN work_order_staging AS s USING (order_id) WHERE {_CHANGED} GROUP BY 1, 2, 3, 4, 5, 6, 7"""
_UPDATE = f"""UPDATE work_orders AS w SET {", ".join(f"{c} = s.{c}" for c in STORED[1:])}
FROM work_order_staging AS s WHERE w.order_id = s.order_id AND {_CHANGED}"""


def _merge_chunk(cursor, chunk, summary: ImportSummary, counts: _DayCounts, day_counts, day_groups) -> bool:
    """One chunk against the stored orders, through the staging table; True when none of them was stored."""
    _copy(cursor, "work_order_staging", chunk)
    stored = dict(cursor.execute(_STORED_ROWS).fetchall())
    ids = chunk.table.column("order_id").to_pylist()
    new = [i for i, order_id in enumerate(ids) if order_id not in stored]
    changed = [i for i, order_id in enumerate(ids) if stored.get(order_id) is False]
    if new:
        cursor.execute(_INSERT_NEW)
        counts.add(day_counts(chunk.table.take(new)))
    if changed:
        counts.add(day_groups(cursor.execute(_OLD_FACTS).fetchall(), -1))
        cursor.execute(_UPDATE)
        counts.add(day_counts(chunk.table.take(changed)))
    cursor.execute("TRUNCATE work_order_staging")
    summary.accepted += len(new)
    summary.updated += len(changed)
    summary.unchanged += len(ids) - len(new) - len(changed)
    return not stored


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
