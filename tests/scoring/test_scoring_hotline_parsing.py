"""Reading work-order files fast and to the same rules: the compiled CSV row
converter gives what `to_record()` gives, Beijing time becomes UTC text like
`str(datetime)` writes it (the old summer times too), COPY text survives any
character, line numbers stay right across quoted line breaks, and the
columnar reader gives exactly what the row-by-row reader gives."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.scoring_workorders import csv_bytes, work_orders
from services.scoring.hotline import columnar, parsing
from services.scoring.hotline.parsing import (
    FIELDS,
    CsvRowConverter,
    FileRefused,
    Rejection,
    _UtcText,
    STORED,
    ParsedAhead,
    read_rows,
    to_record,
)

EDU, CIV = "淄博市教育局", "淄博市民政局"


def outcome(fn, *args):
    try:
        return ("ok", fn(*args))
    except ValueError as exc:
        return ("rejected", str(exc))


TIMES = [
    "2021-03-01 09:00:00", "2021/03/01 09:05:07", "2021-03-01T23:59:59", "2021-01-01 07:59:59", "1990-07-01 02:30:00",
    "1986-05-04 02:30:00", "1991-09-15 01:30:00", "1900-05-01 10:11:12", "0001-01-01 00:00:00", "9999-12-31 23:59:59",
    "2021-03-01 09:00:00.5", "2021-03-01 09:00+08", "2021-03-01T09:00:00+00:00", "2021-13-01 09:00:00", "2021-03-01 09:61:00",
    "", "  ", " 2021-03-01 09:00:00 ", "2021-W09-1 09:00:00", "20210301T090000", "2021-03-01", "2021-03-01 09:00:0x",
]
field_values = {
    "order_id": st.sampled_from(["GD1", "", " GD2 ", "x" * 64, "x" * 65, "a\tb", "GD\x003"]),
    "received_at": st.one_of(st.sampled_from(TIMES), st.datetimes(min_value=dt.datetime(1899, 1, 1), max_value=dt.datetime(2100, 1, 1)).map(
        lambda d: d.strftime("%Y-%m-%d %H:%M:%S"))),
    "channel": st.sampled_from(["电话", "", " 网站 ", "y" * 50]),
    "request_type": st.sampled_from(["投诉", "咨询", " 举报 ", "complaint", "闲聊", "", "建议", "意见建议", "help"]),
    "dispatched_to": st.sampled_from([EDU, " 市教育局 ", "a|b", "a；b; c", "", "|", "z" * 1100]),
    "returned_by": st.sampled_from([CIV, "", "a|b|a", " 市民政局 ;", "\\"]),
    "final_department": st.sampled_from([EDU, "市教育局 ", "", "z" * 300, "a\nb"]),
    "valid": st.sampled_from(["是", "否", "", " YES ", "也许", "1", "f", "TRUE"]),
    "duplicate_of": st.sampled_from(["", "GD1", " GD3 ", "d" * 65]),
    "unfounded": st.sampled_from(["是", "否", "", "No", "?"]),
    "satisfaction": st.sampled_from(["满意", "", "s" * 30, "None"]),
}


@settings(max_examples=500, deadline=None)
@given(st.fixed_dictionaries(field_values), st.permutations(list(FIELDS)))
def test_the_csv_converter_gives_what_to_record_gives(raw, order):
    convert = CsvRowConverter(order)
    assert outcome(convert, [raw[f] for f in order]) == outcome(to_record, raw)


def test_a_missing_optional_column_reads_as_empty_and_a_repeated_one_takes_the_last():
    columns = ["order_id", "received_at", "request_type", "final_department", "valid", "valid"]
    record = CsvRowConverter(columns)(["GD1", "2021-03-01 09:00:00", "投诉", EDU, "否", "是"])
    assert record == to_record({"order_id": "GD1", "received_at": "2021-03-01 09:00:00", "request_type": "投诉", "final_department": EDU, "valid": "是"})
    assert record[2] == "" and record[7] is True and record[8] is None


def test_beijing_time_becomes_utc_text_including_the_old_summer_times():
    utc_text = _UtcText()
    rng = random.Random(7)
    moments = [dt.datetime(1901, 1, 1) + dt.timedelta(seconds=rng.randrange(200 * 365 * 86400)) for _ in range(20_000)]
    moments += [dt.datetime(y, m, d, h, 30, 15) for y in range(1986, 1992) for m in (4, 5, 9) for d in range(10, 19) for h in range(4)]
    for moment in moments:
        local = moment.strftime("%Y-%m-%d %H:%M:%S")
        expected = str(moment.replace(tzinfo=parsing.CHINA).astimezone(dt.UTC))
        assert utc_text(local) == expected == _UtcText.full(local), local
        assert utc_text(local.replace("-", "/")) == expected
    assert utc_text("1900-05-01 10:11:12") == "1900-05-01 02:05:29+00:00"  # local mean time, +8:05:43
    assert utc_text("2021-03-01T09:00:00+00:00") == "2021-03-01 09:00:00+00:00"
    assert utc_text("2021-03-01 09:00:00.250") == "2021-03-01 01:00:00.250000+00:00"
    with pytest.raises(ValueError, match="is out of range"):
        utc_text("0001-01-01 00:00:00")


def by_rows(body: bytes, encoding="utf-8-sig"):
    records, rejections = [], []
    for _, row in read_rows(io.BytesIO(body), "csv", encoding):
        (rejections if isinstance(row, Rejection) else records).append(row)
    return records, rejections


def by_columns(body: bytes, encoding="utf-8-sig", file_format="csv"):
    records, rejections = [], []
    for chunk in columnar.column_chunks(io.BytesIO(body), file_format, encoding, 50_000, 10_000):
        records += [tuple(row[c] for c in STORED) for row in chunk.table.to_pylist()]
        rejections += chunk.rejections
    return records, rejections


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(columnar, "BLOCK_BYTES", 700)  # a few rows a block: every kind of block and cut


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])  # the fixture only sets a constant
@given(st.lists(st.fixed_dictionaries(field_values), min_size=1, max_size=40), st.permutations(list(FIELDS)), st.sampled_from(["\n", "\r\n", "\r"]))
def test_the_columnar_reader_gives_what_the_row_reader_gives(small_blocks, raws, order, line_end):
    """Any mix of plain and odd rows (spaces to strip, names to split, old
    times, flags written otherwise, rows to reject, quoted line breaks): the
    same records, rejections and line numbers."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator=line_end)
    writer.writerow(order)
    writer.writerows([raw[f] for f in order] for raw in raws)
    body = out.getvalue().encode()
    assert by_columns(body) == by_rows(body)
    plain = body.replace(b'"', b"")  # no quotes: every block goes through pyarrow
    assert by_columns(plain) == by_rows(plain)


def test_lines_ended_by_lf_crlf_or_a_lone_cr_keep_their_numbers(small_blocks):
    rows = list(work_orders(60, seed=43))
    for i in (9, 30, 51):
        rows[i]["request_type"] = "闲聊"
    lines = csv_bytes(rows).split(b"\n")
    ends = [b"\n", b"\r\n", b"\r"]
    body = b"".join(line + ends[i % 3 if 20 <= i < 40 else 1] for i, line in enumerate(lines[:-1]))
    records, rejections = by_columns(body)
    assert (records, rejections) == by_rows(body)
    assert len(records) == 57 and [r.line for r in rejections] == [11, 32, 53]


def test_the_columnar_reader_takes_the_plain_rows_in_columns(small_blocks, monkeypatch):
    taken = []
    monkeypatch.setattr(columnar._CsvBlocks, "rows", lambda self, text, line: taken.append(line) or (columnar.records_table([]), []))
    body = csv_bytes(list(work_orders(200, seed=40)))  # CRLF line ends, no quotes
    records, rejections = by_columns(body)
    assert len(records) == 200 and not rejections and not taken  # no block went row by row
    assert records == by_rows(body)[0]


@pytest.mark.parametrize("reader", [by_rows, by_columns])
def test_a_huge_field_or_line_is_a_rejected_row_with_its_line(reader):
    rows = list(work_orders(5, seed=41))
    rows[1]["dispatched_to"] = "局" * 200_000  # over the csv module's field limit of 131,072
    rows[3]["channel"] = "x" * 20_000_000  # a 20 MB line
    records, rejections = reader(csv_bytes(rows))
    assert [r[0] for r in records] == [rows[i]["order_id"] for i in (0, 2, 4)]
    assert [r.line for r in rejections] == [3, 5]
    assert all("field larger than field limit" in r.reason for r in rejections)


def test_a_record_longer_than_the_limit_is_skipped_not_held(monkeypatch):
    monkeypatch.setattr(columnar, "RECORD_LIMIT", 1 << 16)
    monkeypatch.setattr(columnar, "BLOCK_BYTES", 1 << 12)
    rows = list(work_orders(3, seed=42))
    body = csv_bytes(rows[:1]) + b'GD9,"' + b"y" * 100_000 + b"\r\n" + csv_bytes(rows[1:]).split(b"\n", 1)[1]
    records, rejections = by_columns(body)
    assert [r[0] for r in records] == [rows[0]["order_id"], rows[1]["order_id"], rows[2]["order_id"]]
    assert [(r.line, "longer than" in r.reason) for r in rejections] == [(3, True)]


def test_rejected_rows_keep_their_line_numbers_across_quoted_line_breaks():
    body = (
        "order_id,received_at,request_type,final_department,channel\n"
        'GD1,2021-03-01 09:00:00,投诉,"淄博市\n教育局",电话\n'  # lines 2-3
        "GD2,2021-03-01 09:00:00,闲聊,x,电话\n"  # line 4
        ",,,,\n"  # line 5: blank, skipped
        "\n"
        'GD3,2021-03-01 09:00:00,投诉,"a\n\nb",电话\n'  # lines 7-9
        "GD4,0001-01-01 00:00:00,投诉,x,电话\n"  # line 10
        "GD\x005,2021-03-01 09:00:00,投诉,x,电话\n"  # line 11
        "GD6,2021-03-01 09:00:00,投诉\n"  # line 12
    ).encode()
    rows = list(read_rows(io.BytesIO(body), "csv"))
    assert [(line, type(r).__name__) for line, r in rows] == [
        (3, "tuple"), (4, "Rejection"), (9, "tuple"), (10, "Rejection"), (11, "Rejection"), (12, "Rejection"),
    ]
    reasons = {line: r.reason for line, r in rows if isinstance(r, Rejection)}
    assert "request_type" in reasons[4] and "out of range" in reasons[10] and "NUL" in reasons[11] and "expected 5 fields" in reasons[12]


def test_jsonl_and_gb18030_give_the_same_records_as_csv():
    rows = list(work_orders(300, seed=6))
    from_csv = [r for _, r in read_rows(io.BytesIO(csv_bytes(rows)), "csv")]
    from_gb = [r for _, r in read_rows(io.BytesIO(csv_bytes(rows, "gb18030")), "csv")]
    from_jsonl = [r for _, r in read_rows(io.BytesIO("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()), "jsonl")]
    assert from_csv == from_gb == from_jsonl
    assert len(from_csv) == 300 and all(isinstance(r, tuple) for r in from_csv)




# -- chunks for COPY, here or in the parsing thread ------------------------------


def chunks_here(body: bytes, file_format="csv", encoding="utf-8-sig", chunk_rows=50, list_at_most=1000):
    return list(columnar.column_chunks(io.BytesIO(body), file_format, encoding, chunk_rows, list_at_most))


def chunks_there(body: bytes, file_format="csv", encoding="utf-8-sig", chunk_rows=50, list_at_most=1000):
    return list(ParsedAhead(io.BytesIO(body), file_format, encoding, chunk_rows, list_at_most))


def test_chunks_hold_each_order_once_and_list_the_first_rejections_only():
    rows = list(work_orders(300, seed=31))
    for i in (3, 40, 41, 250):
        rows[i]["request_type"] = "闲聊"
    rows.insert(20, dict(rows[10], channel="again"))  # cuts the first chunk short
    chunks = chunks_here(csv_bytes(rows), list_at_most=3)
    assert [c.rows for c in chunks] == [19, 50, 50, 50, 50, 50, 28, 0]  # 301 rows, 4 refused
    assert [c.rows_done for c in chunks] == [False] * 7 + [True]  # then the importer may finish work_orders
    assert sum(c.rejected for c in chunks) == 4
    assert [r.line for c in chunks for r in c.rejections] == [5, 43, 44]
    for c in chunks:
        ids = c.table.column("order_id").to_pylist()
        assert len(ids) == len(set(ids)) == c.rows == len(list(csv.reader(io.StringIO(c.data.decode()))))
    names = [n for c in chunks for n in c.names]
    assert len(names) == len(set(names)) and EDU in names


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_the_parsing_thread_gives_the_same_chunks_and_line_numbers(encoding):
    rows = list(work_orders(2000, seed=32))
    rows[5]["received_at"] = "昨天"
    rows[6]["final_department"] = "两行\n的单位"  # quoted over two lines: later line numbers move by one
    rows[900]["valid"] = "也许"
    rows.insert(1000, dict(rows[999], channel="again"))
    body = csv_bytes(rows, encoding)
    codec = "utf-8-sig" if encoding == "utf-8" else encoding
    here, there = chunks_here(body, encoding=codec, chunk_rows=300), chunks_there(body, encoding=codec, chunk_rows=300)
    assert there == here and len(here) > 1
    assert there[0].table.schema == columnar.SCHEMA
    assert [(r.line, r.reason.split(":")[0]) for c in there for r in c.rejections] == [(7, "received_at"), (903, "valid")]
    jsonl = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode(encoding)
    assert chunks_there(jsonl, "jsonl", codec, 300) == chunks_here(jsonl, "jsonl", codec, 300)


def test_the_parsing_thread_refuses_a_file_like_this_thread():
    good = csv_bytes(list(work_orders(3000, seed=33)))
    bad = good + "GD9,2021-03-01 09:00:00,电话,投诉,x,,x,是,,否,\n".encode("gb18030")
    refusals = []
    for chunks in (chunks_here, chunks_there):
        with pytest.raises(FileRefused) as refused:
            chunks(bad)
        refusals.append((refused.value.slug, refused.value.detail, refused.value.extensions))
    assert refusals[0] == refusals[1] and refusals[0][0] == "wrong-encoding"
    with pytest.raises(FileRefused) as refused:
        chunks_there(b"order_id,channel\nGD1,x\n")
    assert refused.value.slug == "missing-columns" and refused.value.extensions == {"columns": ["received_at", "request_type", "final_department"]}
    assert refused.value.problem().body()["type"] == "urn:pingyi:problem:missing-columns"


def test_a_parsing_thread_failure_reaches_the_importer():
    with pytest.raises(LookupError, match="no-such-codec"):
        chunks_there(csv_bytes(list(work_orders(10))), encoding="no-such-codec")


def test_closing_the_chunks_early_stops_the_parsing_thread():
    parsed = ParsedAhead(io.BytesIO(csv_bytes(list(work_orders(3000, seed=34)))), "csv", "utf-8-sig", 50, 1000)
    first = next(parsed)
    parsed.close()
    assert first.rows == 50 and not parsed.thread.is_alive()
    unread = ParsedAhead(io.BytesIO(csv_bytes(list(work_orders(3000, seed=35)))), "csv", "utf-8-sig", 50, 1000)
    unread.close()  # never iterated: the thread, blocked with its queue full, still ends
    assert not unread.thread.is_alive()


def test_the_columnar_reader_strips_what_str_strip_strips():
    assert set(columnar.WHITESPACE) == {c for c in map(chr, range(0x110000)) if c.isspace()}


def test_chunks_in_time_order_hold_the_same_rows_sorted_by_time():
    rows = list(work_orders(400, seed=36))
    random.Random(7).shuffle(rows)
    body = csv_bytes(rows)
    as_written = columnar.column_chunks(io.BytesIO(body), "csv", "utf-8-sig", 150, 1000)
    by_time = list(columnar.column_chunks(io.BytesIO(body), "csv", "utf-8-sig", 150, 1000, time_order=True))
    for written, sorted_ in zip(as_written, by_time, strict=True):
        assert written.rows_done == sorted_.rows_done
        if written.rows_done:
            continue  # the chunk of no rows that ends both
        times = sorted_.table.column("received_at").to_pylist()
        assert times == sorted(times) and times != written.table.column("received_at").to_pylist()
        assert sorted(sorted_.table.to_pylist(), key=str) == sorted(written.table.to_pylist(), key=str)


def test_the_last_chunk_carries_the_sum_of_every_chunks_day_counts():
    from services.scoring.hotline.parsing import returned_key

    body = csv_bytes(list(work_orders(600, seed=37)))
    chunks = list(columnar.column_chunks(io.BytesIO(body), "csv", "utf-8-sig", 50, 1000, totals_up_to=10_000))
    *rows, done, last = chunks
    assert done.rows_done and done.rows == 0 and not any(c.rows_done for c in (*rows, last))
    assert last.rows == 0 and last.totals is not None and all(c.totals is None for c in rows)
    assert last.totals == columnar.summed_day_copy([c.groups for c in rows], returned_key)
    assert sum(c.groups.num_rows for c in rows) > len(rows)  # groups to sum, in every chunk
    # More groups than that: no sum is sent, the importer sums as it goes.
    few = list(columnar.column_chunks(io.BytesIO(body), "csv", "utf-8-sig", 50, 1000, totals_up_to=40))
    *rows, done = few
    assert done.rows_done and all(c.totals is None and c.rows for c in rows) and sum(c.rows for c in rows) == 600
