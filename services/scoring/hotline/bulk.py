"""The 12345 import into Postgres, on a psycopg connection of its own or of a
SQLAlchemy session: new orders COPY'd straight into work_orders, a chunk
holding stored orders through a staging table (changed ones updated, the rest
left alone), the day counts summed here and added in a few large COPYs, all in
the caller's transaction.

It needs neither SQLAlchemy nor the service's models, so the CLI imports
only psycopg and pyarrow before its first COPY: the service's imports cost
more than a second, while Postgres waited (see `cli.py`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

import psycopg

from services.scoring.hotline.parsing import (
    COPY_CHUNK,
    DAY_COUNTS_HELD,
    MAX_REJECTIONS_LISTED,
    PARSE_AHEAD_MIN_BYTES,
    STORED,
    FileFormat,
    ParsedAhead,
    Rejection,
    parse_ahead_wanted,
    returned_key,
)

ANALYZE_ORDERS_FROM = 10_000  # orders written by one import
# The import's ANALYZEs sample 300 x this many rows. 3,000 gave the metric's
# queries the same plans and times as the default 30,000: the day counts'
# after a 1M import, the part-day queries on work_orders' BRIN after the 22M
# year (hash aggregate, 10 ms). The default sample read every page of
# work_orders: 0.18 s of a 1M import, 0.38 s of each file of the year.
IMPORT_STATISTICS_TARGET = 10
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


def unmatched(written: set[str], aliases: dict[str, str], known: set[str]) -> list[str]:
    """The names in the name fields as written (split at "|") that no alias or plan names."""
    seen: set[str] = set()
    for names in written:
        if names:
            seen.update(names.split("|"))
    return sorted(n for n in seen if n not in aliases and n not in known)


def import_by_copy(
    connection: psycopg.Connection,
    stream: BinaryIO,
    file_format: FileFormat,
    encoding: str,
    progress: Callable[[int], None] | None = None,
    parsed: ParsedAhead | None = None,
) -> ImportSummary:
    """Imports in the connection's transaction (the caller commits or rolls
    back); FileRefused for a file refused as a whole. `parsed`: the stream's
    chunks, started earlier with `encoding` and `time_order=True` (closed here
    either way)."""
    summary, written = ImportSummary(), set()
    cursor = connection.cursor()
    try:
        aliases = dict(cursor.execute("SELECT alias, department FROM department_aliases").fetchall())
        known = set(aliases.values())
        for (departments,) in cursor.execute("SELECT departments FROM year_plans").fetchall():
            known.update(departments)
    except BaseException:
        if parsed is not None:
            parsed.close()
        raise
    _copy_chunks(connection, stream, file_format, encoding, summary, written, progress, parsed)
    if summary.accepted + summary.updated:
        # Fresh statistics, so the metric's plan fits the counts it reads right
        # after a large import (ANALYZE blocks neither readers nor writers).
        cursor.execute(f"SET LOCAL default_statistics_target = {IMPORT_STATISTICS_TARGET}")
        cursor.execute("ANALYZE work_order_day_counts")
        if summary.accepted + summary.updated >= ANALYZE_ORDERS_FROM:
            # Only what the metric's part-day query filters and groups by: the
            # long text columns cost the most to sample. (The filter column
            # alone is not enough: without the grouped columns' statistics the
            # planner sorts where it should hash, three times slower.)
            cursor.execute("ANALYZE work_orders (received_at, final_department, request_type, valid, duplicate_of, unfounded, returned_by)")
        cursor.execute("RESET default_statistics_target")
    summary.unmatched_departments = unmatched(written, aliases, known)
    return summary


# Postgres: new orders COPY'd straight into work_orders; changed ones through a
# staging table; the day counts summed here and added in a few statements.

_STAGING = """CREATE TEMP TABLE IF NOT EXISTS work_order_staging (LIKE work_orders) ON COMMIT DROP"""
_DAY_FACTS = ("day", "final_department", "request_type", "valid", "duplicate", "unfounded", "returned_by")
_DAY_STAGING = """CREATE TEMP TABLE IF NOT EXISTS work_order_day_staging (LIKE work_order_day_counts) ON COMMIT DROP"""
_DAY_MERGE = f"""
INSERT INTO work_order_day_counts AS c ({", ".join(_DAY_FACTS)}, returned_key, orders)
SELECT {", ".join(_DAY_FACTS)}, returned_key, orders FROM work_order_day_staging
ON CONFLICT (day, final_department, request_type, valid, duplicate, unfounded, returned_key) DO UPDATE SET orders = c.orders + EXCLUDED.orders
"""
_EMPTIED_GROUPS = "DELETE FROM work_order_day_counts WHERE day BETWEEN %s AND %s AND orders = 0"
_DAYS_HELD = "SELECT EXISTS (SELECT FROM work_order_day_counts WHERE day BETWEEN %s AND %s)"
_COPY = f"COPY {{table}} ({', '.join(STORED)}) FROM STDIN (FORMAT {{format}}, ENCODING 'UTF8')"
_HEAP_PAGES = "pg_relation_size('work_orders') / current_setting('block_size')::bigint"
# The BRIN index's block ranges: its pages_per_range, and the first range the
# table's pages do not fill yet.
_BRIN_RANGES = f"""SELECT r.pages, {_HEAP_PAGES} / r.pages * r.pages
FROM (SELECT coalesce((SELECT option_value::bigint FROM pg_class AS i, pg_options_to_table(i.reloptions)
                       WHERE i.relname = 'ix_work_orders_received_at' AND option_name = 'pages_per_range'), 128) AS pages) AS r"""
# Each range the table's pages fill, from %(first)s on, summarised; the first range not yet full.
_SUMMARIZE_FILLED = f"""SELECT coalesce(max(b) + %(pages)s, %(first)s)
FROM generate_series(%(first)s::bigint, {_HEAP_PAGES} - %(pages)s, %(pages)s) AS b,
    brin_summarize_range('ix_work_orders_received_at', b) AS summarized"""
DAY_PARTS_HELD = 200_000  # day-count rows held before they are summed


class _FilledRanges:
    """Summarises the BRIN ranges of work_orders as COPY fills them, while their
    pages are still in shared buffers. Once every order is in, the table no
    longer fits them (140 MB for a million orders), and one summary at the end
    read the pages back from the OS: 0.19-0.29 s of the backend for a million
    orders, against 0.13 s in 54 steps behind the chunks. A range is
    summarised once full: one still filling would have its summary widened
    with every row after it (the last one is summarised with the rest at the end)."""

    def __init__(self, cursor) -> None:
        self.cursor = cursor
        self.pages, self.first = cursor.execute(_BRIN_RANGES).fetchone()

    def summarize(self) -> None:
        self.first = self.cursor.execute(_SUMMARIZE_FILLED, {"pages": self.pages, "first": self.first}).fetchone()[0]


class _DayCounts:
    """Orders per day-count group, moved by this import (Arrow tables, summed
    as they come and written in a few large COPYs: a million orders of a year
    make about 160,000 groups, written once)."""

    def __init__(self, cursor) -> None:
        self.cursor, self.sums = cursor, self._fresh()
        self.written = False
        self.totals = None  # the file's groups summed and ready for COPY by the parsing thread
        cursor.execute(_DAY_STAGING)

    @staticmethod
    def _fresh():
        from services.scoring.hotline.columnar import DaySums

        return DaySums(DAY_PARTS_HELD)

    def take_totals(self, totals) -> None:
        """Every chunk of the file was added whole and nothing is written yet:
        the parsing thread's sum of the same groups replaces this one (made
        while the last chunks were COPY'd, not after)."""
        if not self.written:
            self.sums, self.totals = self._fresh(), totals

    def add(self, groups) -> None:
        """`groups`: a table of `columnar.DAY_SCHEMA`."""
        self.sums.add(groups)
        if self.sums.held >= DAY_COUNTS_HELD:
            self.write()

    def write(self) -> None:
        from services.scoring.hotline.columnar import summed_day_copy

        parts, self.sums = self.sums.parts, self._fresh()
        summed, self.totals = (self.totals or (summed_day_copy(parts, returned_key) if parts else None)), None
        if summed is None:
            return
        self.written = True
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
            # Groups whose last orders moved away: only a merge makes them, on
            # its own days (a scan of every day cost 20 ms per million orders).
            self.cursor.execute(_EMPTIED_GROUPS, (first, last))


def _copy(cursor, table: str, chunk) -> None:
    with cursor.copy(_COPY.format(table=table, format=chunk.copy_format)) as copy:
        copy.write(chunk.copy_data)


def _copy_chunks(connection: psycopg.Connection, stream: BinaryIO, file_format: FileFormat, encoding: str, summary: ImportSummary, written: set[str], progress, parsed) -> None:
    """Chunks of rows from the columnar reader. While the orders of a file are
    new, a chunk goes straight into work_orders by COPY (in a savepoint: an
    order already stored fails it, and the chunk is taken again the careful
    way). Otherwise the chunk's orders are looked up: new ones are COPY'd in,
    changed ones updated from a staging table, the rest left alone. A large
    file is parsed in a thread while this one feeds Postgres."""
    from services.scoring.hotline.columnar import column_chunks, day_counts, day_groups  # pyarrow: Postgres only

    chunks = parsed
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", (IMPORT_LOCK,))
        cursor.execute(_STAGING)
        counts = _DayCounts(cursor)
        ranges = _FilledRanges(cursor)
        if chunks is None and parse_ahead_wanted(stream, PARSE_AHEAD_MIN_BYTES):
            chunks = ParsedAhead(stream, file_format, encoding, COPY_CHUNK, MAX_REJECTIONS_LISTED, time_order=True, totals_up_to=DAY_COUNTS_HELD)
        if chunks is None:
            chunks = column_chunks(stream, file_format, encoding, COPY_CHUNK, MAX_REJECTIONS_LISTED, time_order=True, totals_up_to=DAY_COUNTS_HELD)
        all_new = True  # so far every order of the file was new
        whole = True  # so far every chunk's groups went to the day counts as they are
        for chunk in chunks:
            if chunk.rows_done:  # every order is in; the parsing thread may still be summing the day counts
                if summary.accepted + summary.updated:
                    # The BRIN ranges filled by this import, summarised now: an unsummarised
                    # range is read whole by every part-day query until a vacuum comes by.
                    cursor.execute("SELECT brin_summarize_new_values('ix_work_orders_received_at')")
                continue
            if chunk.totals is not None:  # the file's last word: all its groups summed
                if whole:
                    counts.take_totals(chunk.totals)
                continue
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
                    counts.add(chunk.groups)
                    ranges.summarize()
            if chunk.rows and not all_new:
                whole = False
                all_new = _merge_chunk(cursor, chunk, summary, counts, day_counts, day_groups)
            if progress:
                progress(chunk.rows)
        counts.write()
    finally:
        if chunks is not None:
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
