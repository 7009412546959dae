"""Columnar reading of 12345 files for the Postgres import (pyarrow).

The file is cut into blocks of whole records (a few MB each, cut at a line
break outside quotes). A block whose records are one line each (no quote
character, no CR but in CRLF, no blank line) is read by pyarrow's CSV reader into columns,
and pyarrow.compute applies the rules of `CsvRowConverter` to every row that is
plainly valid, all at once: the usual time shape after 1991 (Beijing has been
UTC+8 without summer time since then), a known request type, yes/no flags as
the platform writes them, names without separators to split, nothing to strip.
Every other row goes through `CsvRowConverter` itself; a block pyarrow does not
take (quotes, CR, blank lines, a wrong field count, a field of 100,000
characters or more) is read row by row by the csv module, as `read_rows()`
does. Either way the same records, rejections and line numbers (tests).

Out come `Chunk`s: the accepted rows as an Arrow table (no order twice in one
chunk) and as CSV for COPY, and the rejections met on the way."""

from __future__ import annotations

import array
import csv
import datetime as dt
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import reduce
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

# The system allocator gives freed blocks back: pyarrow's own pool keeps them (memory stays low).
pa.set_memory_pool(pa.system_memory_pool())

from services.scoring.hotline.parsing import (
    FIELDS,
    FLAGS,
    KINDS,
    ORDER_ID_MAX,
    STORED,
    CsvRowConverter,
    FileFormat,
    FileRefused,
    Record,
    Rejection,
    csv_records,
    header_columns,
    read_rows,
    returned_key,
)

BLOCK_BYTES = 2 << 20  # ≈ 17,000 rows: the memory of a block in flight stays small
# The first block is smaller: the importer's first COPY waits for it, while
# Postgres has nothing else to do.
FIRST_BLOCK_BYTES = 256 << 10
RECORD_LIMIT = 64 << 20  # a record longer than this is rejected without being held whole
ROW_PART_RECORDS = 50_000  # records a table when a whole file is read row by row
FAST_FIELD_CHARS = 100_000  # a block with a longer field goes row by row (the csv module's field limit)
PLAIN_SINCE = 1992  # Asia/Shanghai: UTC+8 without summer time from 1992 on
UTC_OFFSET = pa.scalar(dt.timedelta(hours=8), pa.duration("s"))
# What str.strip() removes: every c with c.isspace() (a test holds the two alike).
WHITESPACE = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
_SPACE = "".join(f"\\x{{{ord(c):x}}}" for c in WHITESPACE)
# In the row's fields joined by \x01: a field that starts or ends with space, or a NUL.
STRIP_OR_NUL = f"(^|\x01)[{_SPACE}]|[{_SPACE}](\x01|$)|\x00"
# The same in a block's raw text (no quotes, no CR but in CRLF): a space next
# to a comma or a line's ends, or a NUL. No match: every row passes, unjoined.
_FIELD_SPACE = "".join(f"\\x{{{ord(c):x}}}" for c in WHITESPACE if c not in "\r\n")
RAW_STRIP_OR_NUL = f"(?m)(^|,)[{_FIELD_SPACE}]|[{_FIELD_SPACE}](,|\r?$)|\x00"
ODD_NAMES = f"(^|\x01)[|;；]|[|;；](\x01|$)|[|;；][|;；]|[{_SPACE}][|;；]|[|;；][{_SPACE}]"
KIND_TEXTS = pa.array(list(KINDS))
KIND_VALUES = pa.array(list(KINDS.values()))
FLAG_TEXTS = pa.array([*FLAGS, ""])
DAY_KEY = ("day", "final_department", "request_type", "valid", "duplicate", "unfounded", "returned_by")
SCHEMA = pa.schema([
    *((name, pa.bool_() if name in ("valid", "unfounded") else pa.string()) for name in STORED),
    ("day", pa.date32()), ("duplicate", pa.bool_()),
])


@dataclass
class Chunk:
    """Accepted rows (no order twice) as a table and as COPY data, and what was refused or seen on the way."""

    table: pa.Table
    copy_data: bytes  # the STORED columns for COPY, in `copy_format`
    copy_format: str = "binary"
    rejected: int = 0
    rejections: list[Rejection] = field(default_factory=list)  # the first ones only, across all chunks
    names: list[str] = field(default_factory=list)  # name fields as written, each once across all chunks
    # The rows' day-count groups (`day_counts`), made by the parsing thread so
    # that the importer goes from one COPY straight to the next.
    groups: pa.Table | None = None
    # Only in a last chunk of no rows (`column_chunks(totals_up_to=…)`): the
    # groups of every chunk before it summed, as `summed_day_copy()` gives them.
    totals: tuple | None = None
    # Only in a chunk of no rows that follows the file's last rows (before the
    # totals): every order is out, and the importer may finish work_orders.
    rows_done: bool = False

    @property
    def rows(self) -> int:
        return self.table.num_rows

    @property
    def data(self) -> bytes:
        """The rows as COPY CSV."""
        return csv_for_copy(self.table) if self.rows else b""


def records_table(records: list[Record]) -> pa.Table:
    columns = list(zip(*records, strict=True)) if records else [()] * len(STORED)
    arrays = {name: list(values) for name, values in zip(STORED, columns, strict=True)}
    arrays["day"] = [dt.date.fromisoformat(r[1][:10]) for r in records]
    arrays["duplicate"] = [r[8] is not None for r in records]
    return pa.table(arrays, schema=SCHEMA)


def _flags(text: pa.Array, default: bool) -> pa.Array:
    return pc.take(pa.array([*FLAGS.values(), default]), pc.index_in(text, value_set=FLAG_TEXTS))


def _null_if_empty(text: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)


def _bars(text: pa.Array, held) -> pa.Array:
    """The name separators ; and ； written as |; `held(byte)`: whether the block may hold that byte."""
    if held(b";"):
        text = pc.replace_substring(text, ";", "|")
    if held(b"\xef"):  # the first byte of ； (EF BC 9B), and of other fullwidth forms
        text = pc.replace_substring(text, "；", "|")
    return text


def _capped(text: pa.Array, chars: int) -> pa.Array:
    """At most `chars` characters; no slice when no value has more bytes than
    that (a character is at least one byte)."""
    if not len(text) or (pc.max(pc.binary_length(text)).as_py() or 0) <= chars:
        return text
    return pc.utf8_slice_codeunits(text, 0, chars)


def _as_text(data: bytes) -> pa.StringArray:
    """The bytes as one string value, without a copy (valid UTF-8: pyarrow's reader checked)."""
    return pa.Array.from_buffers(pa.string(), 1, [None, pa.py_buffer(array.array("i", [0, len(data)]).tobytes()), pa.py_buffer(data)])


def plain_rows(pick: dict[str, pa.Array], unstripped: bool = False, block: bytes | None = None) -> tuple[pa.Array, pa.Table]:
    """(mask of the rows the vector rules take, those rows converted).
    `unstripped`: no field has space at its ends or a NUL (known from the block).
    `block`: the UTF-8 text the columns were read from, when at hand: a byte
    it does not hold spares the kernels that look for it (memchr is a small
    fraction of a kernel's pass)."""

    def held(byte: bytes) -> bool:
        return block is None or byte in block

    order_length = pc.utf8_length(pick["order_id"])
    local_text = pc.replace_substring(pick["received_at"], "/", "-") if held(b"/") else pick["received_at"]
    local = pc.strptime(local_text, format="%Y-%m-%d %H:%M:%S", unit="s", error_is_null=True)
    checks = [
        *([] if unstripped else [pc.invert(pc.match_substring_regex(pc.binary_join_element_wise(*(pick[f] for f in FIELDS), "\x01"), STRIP_OR_NUL))]),
        pc.greater(order_length, 0), pc.less_equal(order_length, ORDER_ID_MAX),
        pc.is_in(pick["request_type"], value_set=KIND_TEXTS),
        # Exactly "YYYY-MM-DD HH:MM:SS" ("/" taken as "-"), a real date and time:
        # strptime takes 02-30 as 03-02, 1:5:0 as 01:05:00, which then read otherwise.
        pc.equal(pc.cast(local, pa.string()), local_text),
        pc.greater_equal(pc.year(local), PLAIN_SINCE),
        pc.is_in(pick["valid"], value_set=FLAG_TEXTS), pc.is_in(pick["unfounded"], value_set=FLAG_TEXTS),
        pc.less_equal(pc.utf8_length(pick["duplicate_of"]), ORDER_ID_MAX),
    ]
    if held(b"|") or held(b";") or held(b"\xef"):  # \xef: the first byte of ；
        # Names split at | ; ；: plain when no part is empty or has space at its ends.
        checks.append(pc.invert(pc.match_substring_regex(pc.binary_join_element_wise(pick["dispatched_to"], pick["returned_by"], "\x01"), ODD_NAMES)))
    ok = pc.fill_null(reduce(pc.and_kleene, checks), False)
    if pc.all(ok).as_py():  # the usual case: nothing to filter out
        p = pick
    else:
        p, local = {name: pc.filter(values, ok) for name, values in pick.items()}, pc.filter(local, ok)
    utc = pc.subtract(local, UTC_OFFSET)
    out = {
        "order_id": p["order_id"],
        "received_at": pc.binary_join_element_wise(pc.cast(utc, pa.string()), "+00:00", ""),
        "channel": _capped(p["channel"], 40),
        "request_type": pc.take(KIND_VALUES, pc.index_in(p["request_type"], value_set=KIND_TEXTS)),
        "dispatched_to": _capped(_bars(p["dispatched_to"], held), 1000),
        "returned_by": _capped(_bars(p["returned_by"], held), 1000),
        "final_department": _capped(p["final_department"], 200),
        "valid": _flags(p["valid"], True),
        "duplicate_of": _null_if_empty(p["duplicate_of"]),
        "unfounded": _flags(p["unfounded"], False),
        "satisfaction": _null_if_empty(_capped(p["satisfaction"], 20)),
    }
    out["day"] = pc.cast(utc, pa.date32())
    out["duplicate"] = pc.is_valid(out["duplicate_of"])
    return ok, pa.table(out, schema=SCHEMA)


class _CsvBlocks:
    """One CSV file's blocks, each turned into (records table, rejections)."""

    def __init__(self, columns: list[str]) -> None:
        self.width = len(columns)
        self.names = [f"c{i}" for i in range(self.width)]
        position = {name: i for i, name in enumerate(columns)}  # a repeated column: the last wins
        self.positions = {f: position.get(f) for f in FIELDS}
        self.order_id_at = max(i for i, c in enumerate(columns) if c == "order_id")
        self.convert = CsvRowConverter(columns)

    def rows(self, text: str, first_line: int) -> tuple[pa.Table, list[Rejection]]:
        """Row by row with the csv module, as `read_rows()` reads."""
        records, rejections = [], []
        for _, row in csv_records(csv.reader(io.StringIO(text, newline="")), first_line - 1, self.width, self.convert, self.order_id_at):
            (rejections if row.__class__ is Rejection else records).append(row)
        return records_table(records), rejections

    def block(self, data: bytes, decode, first_line: int, utf8: bool) -> tuple[pa.Table, list[Rejection], int]:
        """(records, rejections, physical lines) of a block of whole records;
        `decode()` gives its text (FileRefused when it is not in the encoding)."""
        if b'"' in data or b"\n\n" in data or b"\n\r\n" in data or data.startswith((b"\n", b"\r\n")):
            return (*self.rows(decode(), first_line), _lines(data))
        utf8 = data if utf8 else decode().encode()
        try:
            read = pacsv.read_csv(
                pa.py_buffer(utf8),
                read_options=pacsv.ReadOptions(column_names=self.names, block_size=len(utf8) + 1, use_threads=False),
                parse_options=pacsv.ParseOptions(quote_char=False, ignore_empty_lines=False),
                convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(self.names, pa.string()), strings_can_be_null=False),
            )
        except pa.ArrowInvalid:
            # another width, or not UTF-8: the csv module says which
            return (*self.rows(decode(), first_line), _lines(data))
        # pyarrow ends a row at LF, CRLF or a lone CR: as many rows as LFs means
        # no lone CR (left to the csv module), and one line per row. One count
        # instead of three for a CRLF file.
        lines = data.count(b"\n") + (not data.endswith(b"\n"))  # the file's last line may have no line break
        # Bytes first (no scan): a field of FAST_FIELD_CHARS characters has at least as many bytes.
        if read.num_rows != lines or any(
            (pc.max(pc.binary_length(c)).as_py() or 0) >= FAST_FIELD_CHARS and (pc.max(pc.utf8_length(c)).as_py() or 0) >= FAST_FIELD_CHARS
            for c in read.columns
        ):
            return (*self.rows(decode(), first_line), _lines(data))
        empty = pa.array([""] * read.num_rows, pa.string()) if None in self.positions.values() else None
        # One chunk each (block_size above): taken as it is, where combine_chunks() would copy it.
        pick = {f: (empty if at is None else _one_array(read.column(at))) for f, at in self.positions.items()}
        unstripped = not pc.match_substring_regex(_as_text(utf8), RAW_STRIP_OR_NUL)[0].as_py()
        ok, plain = plain_rows(pick, unstripped, utf8)
        if pc.all(ok).as_py():
            return plain, [], lines
        # The rest row by row, in file order: one line each.
        records, positions, rejections = [], [], []
        convert, order_id_at = self.convert, self.order_id_at
        for index, values in zip(pc.indices_nonzero(pc.invert(ok)).to_pylist(), read.filter(pc.invert(ok)).to_pylist(), strict=True):
            values = list(values.values())
            try:
                records.append(convert(values[:]))
                positions.append(index)
            except ValueError as exc:
                if any(v.strip() for v in values):
                    rejections.append(Rejection(first_line + index, values[order_id_at] or None, str(exc)))
        if not records:
            return plain, rejections, lines
        order = pa.concat_arrays([pc.indices_nonzero(ok), pa.array(positions, pa.uint64())])
        table = pa.concat_tables([plain, records_table(records)])
        return table.take(pc.sort_indices(order)), rejections, lines


def _one_array(values: pa.ChunkedArray) -> pa.Array:
    return values.chunk(0) if values.num_chunks == 1 else values.combine_chunks()


def _safe_cut(data: bytes) -> int:
    """The end of the last line break outside quotes (an even number of quote
    characters before it), or -1."""
    end = data.rfind(b"\n")
    if end < 0 or b'"' not in data:
        return end + 1 if end >= 0 else -1
    quotes = data.count(b'"', 0, end)
    while end >= 0 and quotes % 2:
        previous = data.rfind(b"\n", 0, end)
        quotes -= data.count(b'"', previous + 1, end)
        end = previous
    return end + 1 if end >= 0 else -1


def _decode(data: bytes, encoding: str, first_line: int) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = first_line + data.count(b"\n", 0, exc.start)
        raise FileRefused(
            422, "wrong-encoding", "File is not UTF-8 or GB18030 文件编码无法识别",
            f"cannot decode the file as {encoding} after line {line - 1}", encoding=encoding, line=line,
        ) from None


def _lines(data: bytes) -> int:
    """Physical lines as the csv module counts them (LF, CRLF or a lone CR)."""
    return data.count(b"\n") + (data.count(b"\r") - data.count(b"\r\n") if b"\r" in data else 0)


def csv_parts(stream: BinaryIO, encoding: str) -> Iterator[tuple[pa.Table, list[Rejection]]]:
    """(records, rejections) block by block; FileRefused for a file that cannot be read."""
    codec = "utf-8" if encoding.replace("_", "-").lower() in ("utf-8-sig", "utf8-sig") else encoding
    first_block = min(FIRST_BLOCK_BYTES, BLOCK_BYTES)
    buffer = stream.read(first_block)
    cr, lf = buffer.find(b"\r"), buffer.find(b"\n")
    if 0 <= cr and (lf < 0 or cr < lf) and buffer[cr + 1: cr + 2] != b"\n":
        # The header ends with a lone CR (old Mac files): the cuts here look
        # for LF, so the csv module reads the file, as read_rows() does.
        yield from row_parts(io.BufferedReader(_Prefixed(buffer, stream)), "csv", encoding, ROW_PART_RECORDS)
        return
    if encoding != codec and buffer.startswith(b"\xef\xbb\xbf"):
        buffer = buffer[3:]
    end = buffer.find(b"\n")
    while end < 0 or buffer.count(b'"', 0, end) % 2:  # the header ends at the first line break outside quotes
        if end >= 0 and (after := buffer.find(b"\n", end + 1)) >= 0:
            end = after
            continue
        more = stream.read(BLOCK_BYTES)
        if not more:
            end = len(buffer)
            break
        buffer += more
        end = buffer.find(b"\n") if end < 0 else end
    header_text = _decode(buffer[: end + 1], codec, 1)
    columns = header_columns(csv.reader(io.StringIO(header_text, newline="")))
    blocks = _CsvBlocks(columns)
    line = 1 + max(_lines(buffer[: end + 1]), 1)
    buffer, want, eof, utf8 = buffer[end + 1:], first_block, False, codec == "utf-8"
    while True:
        while not eof and len(buffer) < want:
            more = stream.read(want - len(buffer))
            eof = not more
            buffer += more
        if eof:
            if buffer:
                yield blocks.block(buffer, lambda: _decode(buffer, codec, line), line, utf8)[:2]
            return
        cut = _safe_cut(buffer)
        if cut < 0:
            want = len(buffer) + BLOCK_BYTES
            if len(buffer) > RECORD_LIMIT:
                # Not held whole: the record is rejected and skipped to its next line break.
                yield records_table([]), [Rejection(line, None, f"the record is longer than {RECORD_LIMIT} bytes")]
                while (end := buffer.find(b"\n")) < 0 and (more := stream.read(BLOCK_BYTES)):
                    buffer = more
                buffer, want, line = (buffer[end + 1:] if end >= 0 else b""), BLOCK_BYTES, line + 1
            continue
        data, buffer, want = buffer[:cut], buffer[cut:], BLOCK_BYTES
        table, rejections, lines = blocks.block(data, lambda: _decode(data, codec, line), line, utf8)  # noqa: B023 (called at once)
        yield table, rejections
        line += lines


class _Prefixed(io.RawIOBase):
    """The bytes already read from a stream, then the rest of it."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self.head, self.rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.head[: len(buffer)] if self.head else self.rest.read(len(buffer))
        self.head = self.head[len(data):] if self.head else b""
        buffer[: len(data)] = data
        return len(data)


def row_parts(stream: BinaryIO, file_format: FileFormat, encoding: str, rows: int) -> Iterator[tuple[pa.Table, list[Rejection]]]:
    """(records, rejections) of up to `rows` records at a time, row by row as read_rows() reads."""
    records, rejections = [], []
    for _, row in read_rows(stream, file_format, encoding):
        (rejections if row.__class__ is Rejection else records).append(row)
        if len(records) >= rows:
            yield records_table(records), rejections
            records, rejections = [], []
    yield records_table(records), rejections


def csv_for_copy(table: pa.Table) -> bytes:
    """COPY … (FORMAT csv) data: strings always quoted, so an unquoted empty field is NULL."""
    out = pa.BufferOutputStream()
    pacsv.write_csv(table.select(list(STORED)), out, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    return out.getvalue().to_pybytes()


# COPY … (FORMAT binary): Postgres then parses no text (timestamps, booleans);
# about a third less of the backend's time than CSV into work_orders.
PG_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # no flags, no header extension
PG_TRAILER = b"\xff\xff"
PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 UTC in microseconds since 1970
PG_EPOCH_DAYS = 10_957
_NULL_FIELD = b"\xff\xff\xff\xff"


def _fixed(data: bytes, width: int, n: int) -> pa.Array:
    """n values of `width` bytes each, as a binary array."""
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), n, [None, pa.py_buffer(data)]).cast(pa.binary())


_CODES = {2: "h", 4: "i", 8: "q"}


def _big_endian(values: pa.Array, width: int) -> pa.Array:
    """Integers (no nulls) as `width`-byte big-endian binary values."""
    values = values.cast({2: pa.int16(), 4: pa.int32(), 8: pa.int64()}[width])
    words = array.array(_CODES[width])
    words.frombytes(values.buffers()[1][values.offset * width: (values.offset + len(values)) * width])
    words.byteswap()
    return _fixed(words.tobytes(), width, len(values))


def _binary_field(values: pa.Array) -> list[pa.Array]:
    """(length prefix, bytes) of one column in COPY binary; a null is length -1.
    Integers go as int4 (the columns written so are integer)."""
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    kind, n = values.type, len(values)
    if pa.types.is_boolean(kind):
        width, raw = 1, pc.fill_null(values, False).cast(pa.uint8())
        raw = _fixed(raw.buffers()[1][raw.offset: raw.offset + n].to_pybytes(), 1, n)
    elif pa.types.is_timestamp(kind):
        micros = pc.fill_null(values.cast(pa.timestamp("us", "UTC")).cast(pa.int64()), 0)
        width, raw = 8, _big_endian(pc.subtract(micros, PG_EPOCH_US), 8)
    elif pa.types.is_date32(kind):
        width, raw = 4, _big_endian(pc.subtract(pc.fill_null(values.cast(pa.int32()), 0), PG_EPOCH_DAYS), 4)
    elif pa.types.is_integer(kind):
        width, raw = 4, _big_endian(pc.fill_null(values, 0), 4)
    else:
        width, raw = None, pc.fill_null(values.cast(pa.binary()), b"")
    prefix = _big_endian(pc.binary_length(raw), 4) if width is None else _fixed(width.to_bytes(4, "big") * n, 4, n)
    if values.null_count:
        prefix = pc.if_else(values.is_valid(), prefix, pa.scalar(_NULL_FIELD, pa.binary()))
    return [prefix, raw]


def copy_binary(table: pa.Table, columns, types: dict | None = None) -> bytes:
    """`columns` of the table as one COPY … (FORMAT binary) stream; `types`
    casts a column first (a string column of timestamps, say). ArrowInvalid
    when a value does not cast."""
    types = types or {}
    pieces = [_fixed(len(columns).to_bytes(2, "big") * table.num_rows, 2, table.num_rows)]
    for name in columns:
        values = table.column(name)
        pieces += _binary_field(values.cast(types[name]) if name in types else values)
    rows = pc.binary_join_element_wise(*pieces, b"") if table.num_rows else None
    if rows is None:
        return PG_SIGNATURE + PG_TRAILER
    offsets = memoryview(rows.buffers()[1]).cast("i")  # the int32 offsets
    body = rows.buffers()[2][offsets[rows.offset]: offsets[rows.offset + len(rows)]]
    return b"".join((PG_SIGNATURE, body, PG_TRAILER))


ORDER_TYPES = {"received_at": pa.timestamp("us", "UTC")}


def copy_data(table: pa.Table) -> tuple[bytes, str]:
    """(COPY data of the STORED columns, its format): binary, or CSV for a
    received_at Arrow does not read (Postgres does)."""
    if not table.num_rows:
        return b"", "binary"
    try:
        return copy_binary(table, STORED, ORDER_TYPES), "binary"
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return csv_for_copy(table), "csv"


def column_chunks(
    stream: BinaryIO, file_format: FileFormat, encoding: str, chunk_rows: int, list_at_most: int, time_order: bool = False, totals_up_to: int = 0,
) -> Iterator[Chunk]:
    """Chunks of at most `chunk_rows` rows. A chunk ends early before an order it
    already holds: the earlier row is stored first and the later one stands.
    A chunk may hold no rows (only rejections). `time_order`: each chunk's
    rows by received_at (`in_time_order`), else in file order. `totals_up_to`:
    a last chunk carries the sum of all chunks' groups, unless they make more
    than that many groups (then none is sent)."""
    parts = csv_parts(stream, encoding) if file_format == "csv" else row_parts(stream, "jsonl", encoding, chunk_rows)
    names_seen: set[str] = set()
    listed = 0
    totals = DaySums(totals_up_to // 2)
    for table, rejections in parts:
        listing = rejections[: max(list_at_most - listed, 0)]
        listed += len(listing)
        names = []
        for column in ("dispatched_to", "returned_by", "final_department"):
            for name in pc.unique(table.column(column)).to_pylist():
                if name not in names_seen:
                    names_seen.add(name)
                    names.append(name)
        pieces = list(_pieces(table, chunk_rows)) or [table]
        for i, piece in enumerate(pieces):
            first = i == 0
            piece = in_time_order(piece) if time_order else piece
            chunk = Chunk(piece, *copy_data(piece), len(rejections) if first else 0, listing if first else [], names if first else [], day_counts(piece))
            yield chunk
            if totals_up_to:
                totals.add(chunk.groups)
                if totals.held > totals_up_to:
                    totals_up_to = 0  # too many: the importer sums as it goes
    yield Chunk(records_table([]), b"", rows_done=True)
    if totals_up_to:
        yield Chunk(records_table([]), b"", totals=summed_day_copy(totals.parts, returned_key) if totals.parts else None)


def in_time_order(table: pa.Table) -> pa.Table:
    """The rows by received_at (no order is twice in a chunk, so their order
    changes nothing stored): a file sorted otherwise still fills the BRIN
    index's block ranges with narrow spans of time. One comparison pass when,
    as usual, they already are (the UTC text sorts as the time does)."""
    times = table.column("received_at")
    if table.num_rows < 2 or pc.all(pc.less_equal(times.slice(0, table.num_rows - 1), times.slice(1))).as_py():
        return table
    return table.take(pc.sort_indices(times))


def _pieces(table: pa.Table, chunk_rows: int) -> Iterator[pa.Table]:
    ids = table.column("order_id")
    n = table.num_rows
    # The usual case, without a Python list: ids that ascend (a comparison pass)
    # or at least are all different (a hash pass).
    if n < 2 or pc.all(pc.less(ids.slice(0, n - 1), ids.slice(1))).as_py() or pc.count_distinct(ids).as_py() == n:
        for start in range(0, n, chunk_rows):
            yield table.slice(start, chunk_rows)
        return
    ids = table.column("order_id").to_pylist()
    start, held = 0, set()
    for i, order_id in enumerate(ids):
        if order_id in held or i - start >= chunk_rows:
            yield table.slice(start, i - start)
            start, held = i, set()
        held.add(order_id)
    if start < len(ids):
        yield table.slice(start)


def day_counts(table: pa.Table) -> pa.Table:
    """The DAY_KEY groups of the table's rows, with their `orders`."""
    grouped = table.group_by(list(DAY_KEY), use_threads=False).aggregate([("order_id", "count")])
    return grouped.rename_columns([*DAY_KEY, "orders"]).select([*DAY_KEY, "orders"]).cast(DAY_SCHEMA)


DAY_SCHEMA = pa.schema([(name, SCHEMA.field(name).type) for name in DAY_KEY] + [("orders", pa.int64())])
DAY_COPIED = (*DAY_KEY, "returned_key", "orders")


def day_groups(rows: list[tuple], sign: int) -> pa.Table:
    """(day, final unit, request type, valid, duplicate, unfounded, returned by, orders) tuples, orders times `sign`."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(DAY_SCHEMA)
    table = pa.table([pa.array(list(c), f.type) for c, f in zip(columns, DAY_SCHEMA, strict=True)], schema=DAY_SCHEMA)
    return table.set_column(7, "orders", pc.multiply(table.column("orders"), sign))


def summed_days(parts: list[pa.Table]) -> pa.Table:
    """The groups of `parts` (tables of DAY_SCHEMA) summed, as one table of
    DAY_SCHEMA in key order. Sorted, then each run of equal keys summed from
    running totals: a third of the time of a hash group_by on seven keys."""
    table = pa.concat_tables(parts).combine_chunks()
    n = table.num_rows
    if n < 2:
        return table
    table = table.take(pc.sort_indices(table, [(name, "ascending") for name in DAY_KEY]))
    changed = reduce(pc.or_, [pc.not_equal(table.column(k).slice(1), table.column(k).slice(0, n - 1)) for k in DAY_KEY])
    starts = pa.concat_arrays([pa.array([0], pa.uint64()), pc.add(pc.indices_nonzero(changed), pa.scalar(1, pa.uint64()))])
    running = pc.cumulative_sum(table.column("orders"))
    ends = pc.subtract(pa.concat_arrays([starts.slice(1), pa.array([n], pa.uint64())]), pa.scalar(1, pa.uint64()))
    before = pa.concat_arrays([pa.array([0], pa.int64()), pc.take(running, pc.subtract(starts.slice(1), pa.scalar(1, pa.uint64()))).combine_chunks()])
    firsts = table.take(starts)
    return firsts.set_column(len(DAY_KEY), "orders", pc.subtract(pc.take(running, ends), before))


class DaySums:
    """Day-count groups (tables of DAY_SCHEMA) held as they come, summed into
    one table whenever `every` rows have come since: memory stays near the
    number of distinct groups."""

    def __init__(self, every: int) -> None:
        self.every, self.parts, self.held, self.summed = every, [], 0, 0

    def add(self, groups: pa.Table) -> None:
        self.parts.append(groups)
        self.held += groups.num_rows
        if self.held - self.summed >= self.every:
            self.parts = [summed_days(self.parts)]
            self.held = self.summed = self.parts[0].num_rows


# The primary key of work_order_day_counts: rows COPY'd in its order go into
# the index one after another at its right edge instead of all over it.
DAY_PRIMARY_KEY = ("day", "final_department", "request_type", "valid", "duplicate", "unfounded", "returned_key")


def summed_day_copy(parts: list[pa.Table], returned_key) -> tuple[bytes, dt.date, dt.date, bool] | None:
    """The groups of `parts` summed, those that moved, as (COPY binary of
    DAY_COPIED in primary-key order, first day, last day, whether every count
    is positive) (`returned_key(returned_by)` gives the key column); None when
    none moved."""
    table = summed_days(parts)
    table = table.filter(pc.not_equal(table.column("orders"), 0))
    if not table.num_rows:
        return None
    returned = table.column("returned_by")
    distinct = pc.unique(returned)
    keys = pc.take(pa.array([returned_key(name) for name in distinct.to_pylist()], pa.string()), pc.index_in(returned, value_set=distinct))
    table = table.append_column("returned_key", keys)
    table = table.take(pc.sort_indices(table, [(name, "ascending") for name in DAY_PRIMARY_KEY]))
    days = pc.min_max(table.column("day")).as_py()
    return copy_binary(table, DAY_COPIED), days["min"], days["max"], pc.min(table.column("orders")).as_py() > 0
