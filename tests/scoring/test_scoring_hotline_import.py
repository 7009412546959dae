"""The import paths on SQLite and Postgres: the Postgres pipeline (several
chunks, a chunk cut by a repeated order, odd characters, a failure halfway or
in the merge thread) counts and rejects like SQLite, and the day counts the
net-complaint metric reads agree with counting the orders one by one after an
import, a re-import, an update, a migration and for any period."""

from __future__ import annotations

import datetime as dt
import io
import random
from types import SimpleNamespace

import pytest
from sqlalchemy import column, func, select, table, text

from bench.scoring_workorders import csv_bytes, work_orders
from services.scoring.domain.complaints import WorkOrderFacts
from services.scoring.domain.complaints import net_complaints as count_one_by_one
from services.scoring.hotline import bulk, parsing, service
from services.scoring.hotline.parsing import read_rows
from services.scoring.models import DepartmentAlias, WorkOrder, WorkOrderDayCount
from shared.web.problems import Problem

EDU, CIV = "淄博市教育局", "淄博市民政局"


def generated(rows: int, seed: int) -> list[dict]:
    return list(work_orders(rows, seed=seed))


def import_bytes(h, body: bytes, file_format="csv", encoding=None):
    with h.db.session() as session:
        return service.import_work_orders(session, io.BytesIO(body), file_format, encoding)


def add_aliases(h) -> None:
    from bench.scoring_workorders import DEPARTMENTS

    with h.db.session() as session:
        for short in DEPARTMENTS[:-2]:  # the last two stay unmatched
            session.add(DepartmentAlias(alias=f"淄博市{short}", department=f"淄博市{short}"))
            session.add(DepartmentAlias(alias=f"市{short}", department=f"淄博市{short}"))


def counted_one_by_one(h, start=None, end=None):
    """The metric over every stored order, through the domain's per-order rules."""
    with h.db.session() as session:
        aliases, known = service.department_names(session)
        query = select(WorkOrder)
        if start:
            query = query.where(WorkOrder.received_at >= start)
        if end:
            query = query.where(WorkOrder.received_at < end)
        orders = list(session.scalars(query))

    def canonical(name):
        return aliases.get(name) or (name if name in known else None)

    facts = []
    unmatched: dict[str, int] = {}
    for o in orders:
        final = canonical(o.final_department)
        if final is None:
            unmatched[o.final_department] = unmatched.get(o.final_department, 0) + 1
        returned = tuple(d for d in (canonical(r) for r in o.returned_by.split("|")) if d) if o.returned_by else ()
        facts.append(WorkOrderFacts(o.request_type, final, o.valid, o.duplicate_of, o.unfounded, returned))
    return {d: (c.received, c.net, c.excluded) for d, c in count_one_by_one(facts).items()}, unmatched


def counted_from_day_counts(h, start=None, end=None):
    with h.db.session() as session:
        counts, unmatched = service.net_complaints(session, start, end)
    return {d: (c.received, c.net, c.excluded) for d, c in counts.items()}, unmatched


def assert_day_counts_match_the_orders(h):
    w, c = WorkOrder, WorkOrderDayCount
    with h.db.session() as session:
        orders = {}
        for o in session.scalars(select(w)):
            key = (o.received_at.date(), o.final_department, o.request_type, o.valid, o.duplicate_of is not None, o.unfounded, o.returned_by)
            orders[key] = orders.get(key, 0) + 1
        kept = {}
        for r in session.scalars(select(c)):
            key = (r.day, r.final_department, r.request_type, r.valid, r.duplicate, r.unfounded, r.returned_by)
            assert r.returned_key == service.returned_key(r.returned_by)
            kept[key] = kept.get(key, 0) + r.orders
        assert session.scalar(select(func.count()).select_from(c).where(c.orders <= 0)) == 0
    assert kept == orders


@pytest.fixture
def small_chunks(monkeypatch):
    """Several COPY chunks and a full pipeline even for a few hundred rows."""
    monkeypatch.setattr(bulk, "COPY_CHUNK", 37)
    monkeypatch.setattr(service, "BATCH", 23)
    # Day counts summed and written several times over: every path of _DayCounts.
    monkeypatch.setattr(bulk, "DAY_PARTS_HELD", 90)
    monkeypatch.setattr(bulk, "DAY_COUNTS_HELD", 200)


def test_day_counts_agree_with_counting_every_order_through_import_reimport_and_update(scoring, small_chunks):
    add_aliases(scoring)
    rows = generated(600, seed=11)
    first = import_bytes(scoring, csv_bytes(rows))
    assert (first.accepted, first.updated, first.unchanged, first.rejected) == (600, 0, 0, 0)
    assert_day_counts_match_the_orders(scoring)
    assert counted_from_day_counts(scoring) == counted_one_by_one(scoring)

    again = import_bytes(scoring, csv_bytes(rows))
    assert (again.accepted, again.updated, again.unchanged) == (0, 0, 600)
    assert counted_from_day_counts(scoring) == counted_one_by_one(scoring)

    # Every fact the metric groups by changes somewhere, including the day.
    rng = random.Random(3)
    changed = [dict(r) for r in rows[:300]]
    for r in changed[::3]:
        r["channel"] = "改"
        r["request_type"] = rng.choice(["投诉", "咨询", "举报"])
        r["valid"] = rng.choice(["是", "否"])
        r["duplicate_of"] = rng.choice(["", "GD202100000001"])
        r["unfounded"] = rng.choice(["是", "否"])
        r["returned_by"] = rng.choice(["", CIV, f"{CIV}|{EDU}"])
        r["final_department"] = rng.choice([EDU, "市民政局", "无名单位"])
        r["received_at"] = (dt.datetime.fromisoformat(r["received_at"]) + dt.timedelta(hours=rng.randrange(-30, 30))).strftime("%Y-%m-%d %H:%M:%S")
    for r in changed[1::3]:
        r["satisfaction"] = "不满意" if r["satisfaction"] != "不满意" else "满意"  # changes the row, not the metric
    extra = generated(700, seed=12)[600:]
    update = import_bytes(scoring, csv_bytes(changed + extra))
    assert (update.accepted, update.updated, update.unchanged) == (100, 200, 100)
    assert_day_counts_match_the_orders(scoring)
    assert counted_from_day_counts(scoring) == counted_one_by_one(scoring)
    assert counted_from_day_counts(scoring)[1]  # some names stay unmatched, and are counted


def test_any_period_agrees_with_counting_every_order_in_it(scoring):
    add_aliases(scoring)
    import_bytes(scoring, csv_bytes(generated(800, seed=5)))
    utc = dt.UTC
    periods = [
        (None, None),
        (dt.datetime(2021, 3, 1, tzinfo=utc), dt.datetime(2021, 9, 1, tzinfo=utc)),  # whole days only
        (dt.datetime(2021, 3, 1, 7, 13, tzinfo=utc), dt.datetime(2021, 9, 1, 16, 0, 1, tzinfo=utc)),  # a part day at each end
        (dt.datetime(2021, 2, 28, 16, tzinfo=utc), None),  # Beijing midnight
        (None, dt.datetime(2021, 6, 30, 16, tzinfo=utc)),
        (dt.datetime(2021, 5, 5, 1, tzinfo=utc), dt.datetime(2021, 5, 5, 23, tzinfo=utc)),  # inside one day
        (dt.datetime(2021, 5, 5, 1, tzinfo=utc), dt.datetime(2021, 5, 6, 0, 30, tzinfo=utc)),  # no whole day
        (dt.datetime(2021, 5, 6, tzinfo=utc), dt.datetime(2021, 5, 5, tzinfo=utc)),  # backwards: nothing
        (dt.datetime(2021, 3, 1, 9, tzinfo=dt.timezone(dt.timedelta(hours=8))), dt.datetime(2021, 4, 1, 9, tzinfo=dt.timezone(dt.timedelta(hours=8)))),
    ]
    rng = random.Random(9)
    for _ in range(6):
        a = dt.datetime(2021, 1, 1, tzinfo=utc) + dt.timedelta(seconds=rng.randrange(365 * 86400))
        periods.append((a, a + dt.timedelta(seconds=rng.randrange(90 * 86400))))
    for start, end in periods:
        assert counted_from_day_counts(scoring, start, end) == counted_one_by_one(scoring, start, end), (start, end)


def test_the_endpoint_reads_the_day_counts_with_every_exclusion(scoring):
    add_aliases(scoring)
    import_bytes(scoring, csv_bytes(generated(400, seed=8)))
    body = scoring.client.get("/v1/hotline/net-complaints", params={"start": "2021-02-01T03:00:00", "end": "2021-11-15T00:00:00"}).json()
    expected, unmatched = counted_one_by_one(scoring, dt.datetime(2021, 2, 1, 3, tzinfo=dt.UTC), dt.datetime(2021, 11, 15, tzinfo=dt.UTC))
    assert {d["department"]: (d["received"], d["net_complaints"], d["excluded"]) for d in body["departments"]} == expected
    assert {u["name"]: u["orders"] for u in body["unmatched"]} == unmatched
    for d in body["departments"]:
        assert d["net_complaints"] + sum(d["excluded"].values()) == d["received"]


def test_a_repeated_order_and_odd_characters_import_alike_on_both_backends(scoring, small_chunks):
    base = generated(120, seed=2)
    odd = dict(base[0], order_id="GD\\odd", channel="a\tb", final_department="淄博市\n教育局", satisfaction="\\N")
    later = dict(base[5], channel="later")
    # base[5] and its later row fall in one COPY chunk: the chunk is cut between them.
    rows = [*base[:10], later, *base[10:50], odd, *base[50:], dict(odd, channel="a\tc"), dict(base[1], duplicate_of="d" * 65)]
    summary = import_bytes(scoring, csv_bytes(rows))
    # base[5] twice: the first is accepted, the later row updates it; odd twice: accepted, then updated.
    assert (summary.accepted, summary.updated, summary.unchanged, summary.rejected) == (121, 2, 0, 1)
    # The header, and two rows of two lines each.
    assert [(r.line, r.order_id) for r in summary.rejections] == [(len(rows) + 3, base[1]["order_id"])]
    with scoring.db.session() as session:
        stored = session.get(WorkOrder, "GD\\odd")
        assert (stored.channel, stored.final_department, stored.satisfaction) == ("a\tc", "淄博市\n教育局", "\\N")
        assert session.get(WorkOrder, base[5]["order_id"]).channel == "later"
    assert_day_counts_match_the_orders(scoring)


def test_a_file_refused_halfway_leaves_nothing_behind(scoring, small_chunks):
    """Chunks already merged by the pipeline go when a later byte is bad."""
    good = csv_bytes(generated(300, seed=4))
    bad = good + "GD9,2021-03-01 09:00:00,电话,投诉,x,,x,是,,否,\n".encode("gb18030")
    with pytest.raises(Problem) as refused, scoring.db.session() as session:
        service.import_work_orders(session, io.BytesIO(bad), "csv", "utf-8-sig")
    assert refused.value.slug == "wrong-encoding"
    with scoring.db.session() as session:
        assert session.scalar(select(func.count()).select_from(WorkOrder)) == 0
        assert session.scalar(select(func.count()).select_from(WorkOrderDayCount)) == 0


# The parsing thread feeds COPY: the Postgres path only.
@pytest.mark.parametrize("scoring", ["postgres"], indirect=True)
def test_the_parsing_thread_imports_exactly_what_this_thread_imports(scoring, small_chunks, monkeypatch):
    add_aliases(scoring)
    rows = generated(400, seed=21)
    rows[17]["request_type"] = "闲聊"
    rows[80]["received_at"] = "2021-02-30 10:00:00"
    rows[81]["final_department"] = "淄博市\n民政局"
    rows.insert(200, dict(rows[190], channel="again"))  # a repeated order cuts a chunk
    body = csv_bytes(rows)

    def run(threshold):
        monkeypatch.setattr(bulk, "PARSE_AHEAD_MIN_BYTES", threshold)
        with scoring.db.session() as session:
            summary = service.import_work_orders(session, io.BytesIO(body), "csv")
            stored = session.execute(select(WorkOrder).order_by(WorkOrder.order_id)).scalars().all()
            facts = [tuple(getattr(o, c) for c in parsing.STORED) for o in stored]
            counts = counted_from_day_counts(scoring)
            session.rollback()  # the next run starts from the same empty table
        return summary, facts, counts

    in_line, in_thread = run(1 << 40), run(0)
    assert in_thread == in_line
    summary = in_thread[0]
    assert (summary.accepted, summary.updated, summary.rejected) == (398, 1, 2)
    assert [(r.line, r.order_id) for r in summary.rejections] == [(19, rows[17]["order_id"]), (82, rows[80]["order_id"])]


def test_the_migration_fills_the_day_counts_from_orders_already_stored(backend, fresh_database_url):
    from shared.db import Database
    from shared.ops.migrations import upgrade

    url = fresh_database_url(backend, "daycounts")
    upgrade("scoring", url, "0004")
    db = Database(url)
    try:
        records = [r for _, r in read_rows(io.BytesIO(csv_bytes(generated(500, seed=13))), "csv")]
        with db.session() as session:
            # work_orders as revision 0004 has it: with its row digest (0010 dropped it).
            at_0004 = table("work_orders", *(column(c) for c in (*parsing.STORED, "row_digest")))
            session.execute(at_0004.insert(), [{**parsing.record_values(r), "row_digest": "0" * 32} for r in records])
        upgrade("scoring", url)
        with db.session() as session:
            assert session.scalar(select(func.sum(WorkOrderDayCount.orders))) == 500
            assert session.scalar(text("SELECT count(*) FROM work_order_day_counts WHERE returned_key <> ''")) > 0

        h = SimpleNamespace(db=db)
        assert_day_counts_match_the_orders(h)
        # The next import continues from the filled counts: nothing moves.
        with db.session() as session:
            again = service.import_work_orders(session, io.BytesIO(csv_bytes(generated(500, seed=13))), "csv")
        assert (again.accepted, again.updated, again.unchanged) == (0, 0, 500)
        assert_day_counts_match_the_orders(h)
    finally:
        db.dispose()




@pytest.mark.parametrize("scoring", ["postgres"], indirect=True)
def test_a_file_out_of_time_order_is_stored_in_time_order_for_the_brin_index(scoring):
    rows = generated(300, seed=22)
    random.Random(5).shuffle(rows)
    summary = import_bytes(scoring, csv_bytes(rows))
    assert summary.accepted == 300
    with scoring.db.session() as session:
        stored = session.scalars(text("SELECT received_at FROM work_orders ORDER BY ctid")).all()
        # Written in time order; the heap may put a batch of rows on an earlier
        # page with room (this table is reused by the tests). Shuffled, about 150.
        descents = sum(later < earlier for earlier, later in zip(stored, stored[1:]))
        assert len(stored) == 300 and descents <= 3
        assert session.scalar(text("SELECT amname FROM pg_class JOIN pg_am ON relam = pg_am.oid WHERE relname = 'ix_work_orders_received_at'")) == "brin"
    assert_day_counts_match_the_orders(scoring)


@pytest.mark.parametrize("scoring", ["postgres"], indirect=True)
def test_an_import_leaves_every_brin_range_it_filled_summarised(scoring, monkeypatch):
    """The import summarises its ranges itself, each once COPY has filled it
    (autosummarize is off: it only flooded the log with requests autovacuum's
    queue could not hold), and the summaries find every order."""
    monkeypatch.setattr(bulk, "COPY_CHUNK", 250)  # ranges filled and summarised chunk after chunk
    rows = generated(3000, seed=31)
    summary = import_bytes(scoring, csv_bytes(rows))
    assert summary.accepted == 3000
    with scoring.db.session() as session:
        # Every hour's orders found through the index alone (a range summarised
        # before all its rows were in would miss the later ones).
        session.execute(text("SET LOCAL enable_seqscan = off"))
        hours = session.execute(text(
            "SELECT date_trunc('hour', received_at), count(*) FROM work_orders GROUP BY 1"
        )).all()
        in_hour = "SELECT count(*) FROM work_orders WHERE received_at >= :a AND received_at < :b"
        for hour, orders in hours[::50]:
            period = {"a": hour, "b": hour + dt.timedelta(hours=1)}
            assert "Bitmap Index Scan on ix_work_orders_received_at" in "\n".join(session.scalars(text("EXPLAIN " + in_hour), period))
            assert session.scalar(text(in_hour), period) == orders
        options = session.scalar(text("SELECT reloptions FROM pg_class WHERE relname = 'ix_work_orders_received_at'"))
        assert "autosummarize=off" in options
        # Nothing left for a later summary to do: every range already has one.
        assert session.scalar(text("SELECT brin_summarize_new_values('ix_work_orders_received_at')")) == 0
        pages = session.scalar(text("SELECT pg_relation_size('work_orders') / current_setting('block_size')::int"))
        assert pages >= 32  # more than one range was filled


@pytest.mark.parametrize("scoring", ["postgres"], indirect=True)
def test_a_large_import_leaves_fresh_statistics_from_a_small_sample(scoring, monkeypatch):
    """The metric reads right after an import, before autovacuum has come by:
    the import analyses what it changed itself, from 3,000 rows (the default
    30,000 read every page of work_orders), and leaves the setting as it was."""
    monkeypatch.setattr(bulk, "ANALYZE_ORDERS_FROM", 1000)
    summary = import_bytes(scoring, csv_bytes(generated(3000, seed=33)))
    assert summary.accepted == 3000
    with scoring.db.session() as session:
        histograms = dict(session.execute(text(
            "SELECT tablename || '.' || attname, cardinality(histogram_bounds::text::text[]) FROM pg_stats"
            " WHERE tablename IN ('work_orders', 'work_order_day_counts') AND attname IN ('received_at', 'day')"
        )).all())
        assert set(histograms) == {"work_orders.received_at", "work_order_day_counts.day"}
        assert all(2 <= bounds <= bulk.IMPORT_STATISTICS_TARGET + 1 for bounds in histograms.values()), histograms
        assert session.scalar(text("SHOW default_statistics_target")) == "100"


def test_two_imports_at_once_on_one_database_lose_and_double_nothing(fresh_database_url):
    """Two replicas importing overlapping files together, each on its own
    connection to one Postgres: the advisory lock takes them one after the
    other; rows and day counts counted afterwards."""
    import threading

    from shared.db import Database
    from shared.ops.migrations import upgrade

    url = fresh_database_url("postgres", "two_imports")
    upgrade("scoring", url)
    replicas = [Database(url), Database(url)]
    h = SimpleNamespace(db=replicas[0])
    rows = generated(3000, seed=23)
    first, second = csv_bytes(rows[:2000]), csv_bytes([dict(r, channel="again") if i < 500 else r for i, r in enumerate(rows[1000:])])
    summaries, errors = {}, []

    def run(name, db, body):
        try:
            summaries[name] = import_bytes(SimpleNamespace(db=db), body)
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    try:
        threads = [threading.Thread(target=run, args=a) for a in (("first", replicas[0], first), ("second", replicas[1], second))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors and set(summaries) == {"first", "second"}
        with h.db.session() as session:
            assert session.scalar(select(func.count()).select_from(WorkOrder)) == 3000
            assert session.scalar(select(func.sum(WorkOrderDayCount.orders))) == 3000
            again = session.scalar(select(func.count()).select_from(WorkOrder).where(WorkOrder.channel == "again"))
        one, two = summaries["first"], summaries["second"]
        # The 1,000 orders in both files: whichever import came second updated
        # the 500 that differ and left 500 alone; the last one's values stand.
        assert one.accepted + two.accepted == 3000
        assert (one.updated + two.updated, one.unchanged + two.unchanged) == (500, 500)
        assert again == (500 if two.updated else 0)
        assert_day_counts_match_the_orders(h)
    finally:
        for db in replicas:
            db.dispose()
