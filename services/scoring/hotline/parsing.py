"""Reading 12345 work-order files (CSV or JSON Lines, UTF-8 or GB18030) one row
at a time: the file is never held whole in memory. Each row comes out as a
validated record or a rejection with its line number and reason.

A record is a plain tuple in `STORED` order. `received_at` is kept as the text
of the UTC time exactly as `str(datetime)` writes it ("2021-03-01
01:00:00+00:00"): that text is what the row digest hashes, what COPY sends to
Postgres, and `record_values()` turns it back into a datetime for SQLite.

`to_record()` states the rules field by field and serves JSON Lines; CSV rows,
where every value is text, go through `CsvRowConverter`, the same rules with
the column positions, lookups and time conversions worked out once per file
instead of once per row. The tests hold the two to the same output.

For Postgres, `columnar.column_chunks()` reads the file into chunks of rows
for COPY; for a large file a thread does so ahead of the caller
(`ParsedAhead`), so that parsing runs on the other core beside the
database."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import io
import json
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, BinaryIO, Literal
from zoneinfo import ZoneInfo

from services.scoring.domain.complaints import REQUEST_TYPES

FileFormat = Literal["csv", "jsonl"]
CHINA = ZoneInfo("Asia/Shanghai")
SNIFF_BYTES = 1 << 20

# Column names the platform exports (Chinese) and their field.
HEADER_ALIASES = {
    "工单编号": "order_id",
    "受理时间": "received_at",
    "来源渠道": "channel",
    "诉求类型": "request_type",
    "派发单位": "dispatched_to",
    "退回单位": "returned_by",
    "最终承办单位": "final_department",
    "是否有效": "valid",
    "重复工单": "duplicate_of",
    "核查不属实": "unfounded",
    "回访满意度": "satisfaction",
}
FIELDS = ("order_id", "received_at", "channel", "request_type", "dispatched_to", "returned_by", "final_department", "valid", "duplicate_of", "unfounded", "satisfaction")
STORED = FIELDS  # the columns of work_orders, in COPY order
REQUIRED = ("order_id", "received_at", "request_type", "final_department")
ENGLISH_TYPES = {v: v for v in REQUEST_TYPES.values()}
KINDS = {**REQUEST_TYPES, **ENGLISH_TYPES}
FLAGS = {**dict.fromkeys(("1", "true", "yes", "是", "y", "t"), True), **dict.fromkeys(("0", "false", "no", "否", "n", "f"), False)}
ORDER_ID_MAX = 64

# A record: (order_id, received_at UTC text, channel, request_type, dispatched_to,
# returned_by, final_department, valid, duplicate_of, unfounded, satisfaction)
Record = tuple


@dataclass(frozen=True)
class Rejection:
    line: int
    order_id: str | None
    reason: str


class FileRefused(Exception):
    """The file as a whole cannot be read (encoding, header): nothing is imported."""

    def __init__(self, status: int, slug: str, title: str, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.status, self.slug, self.title, self.detail, self.extensions = status, slug, title, detail, extensions

    def problem(self):
        from shared.web.problems import Problem  # imported here: the parser process needs no web framework

        return Problem(self.status, self.slug, self.title, self.detail, **self.extensions)


def detect_encoding(stream: BinaryIO) -> str:
    """UTF-8 when the first megabyte decodes as UTF-8, else GB18030; the stream is rewound."""
    head = stream.read(SNIFF_BYTES)
    stream.seek(0)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8-sig"
    except UnicodeDecodeError:
        return "gb18030"


def _names(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str) and "|" not in value and ";" not in value and "；" not in value:
        return value.strip()
    if isinstance(value, list):
        parts = [str(v).strip() for v in value]
    else:
        parts = str(value).replace(";", "|").replace("；", "|").split("|")
    return "|".join(p for p in (p.strip() for p in parts) if p)


def _flag(value, name: str, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text == "":
        return default
    flag = FLAGS.get(text)
    if flag is not None:
        return flag
    raise ValueError(f"{name}: '{value}' is not yes/no")


class _UtcText:
    """received_at text → the UTC time as `str(datetime)` writes it. The platform
    writes Beijing time without an offset. Asia/Shanghai moves by whole hours
    only (since 1901), so within one local hour the UTC text differs from the
    local one only in its date and hour: those are worked out once per hour
    seen and the minutes and seconds are copied."""

    CACHE_LIMIT = 200_000

    def __init__(self) -> None:
        self.hours: dict[str, str] = {}

    @staticmethod
    def full(text: str) -> str:
        """The general rule, one row at a time; raises ValueError with the reason."""
        try:
            parsed = dt.datetime.fromisoformat(text.replace("/", "-"))
        except ValueError:
            raise ValueError(f"received_at: '{text}' is not a date and time") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=CHINA)  # the platform writes Beijing time
        try:
            return str(parsed.astimezone(dt.UTC))
        except OverflowError:
            raise ValueError(f"received_at: '{text}' is out of range") from None

    def __call__(self, text: str) -> str:
        # "YYYY-MM-DD HH:MM:SS" without an offset: the platform's usual shape.
        if len(text) != 19 or text[13] != ":" or text[16] != ":":
            return self.full(text)
        try:
            parsed = dt.datetime.fromisoformat(text.replace("/", "-"))
        except ValueError:
            raise ValueError(f"received_at: '{text}' is not a date and time") from None
        if parsed.tzinfo is not None:
            return self.full(text)
        prefix = text[:13]
        utc_prefix = self.hours.get(prefix)
        if utc_prefix is not None:
            return f"{utc_prefix}{text[13:]}+00:00"
        utc = self.full(text)
        if parsed.replace(tzinfo=CHINA).utcoffset() % dt.timedelta(hours=1) or utc[13:19] != text[13:] or len(utc) != 25:
            return utc  # not a whole-hour offset (before 1901): no shortcut
        if len(self.hours) >= self.CACHE_LIMIT:
            self.hours.clear()
        self.hours[prefix] = utc[:13]
        return utc


def _refuse_nul(*texts: str | None) -> None:
    """A NUL character anywhere refuses the row: no database text can hold it."""
    if any(t is not None and "\x00" in t for t in texts):
        raise ValueError("contains a NUL character")


def _check_duplicate_of(value: str | None) -> None:
    if value is not None and len(value) > ORDER_ID_MAX:
        raise ValueError(f"duplicate_of is longer than {ORDER_ID_MAX} characters")


def to_record(raw: dict, utc_text: _UtcText | None = None) -> Record:
    """A validated row ready to store; raises ValueError with the reason."""
    order_id = str(raw.get("order_id") or "").strip()
    if not order_id:
        raise ValueError("order_id is empty")
    if len(order_id) > ORDER_ID_MAX:
        raise ValueError(f"order_id is longer than {ORDER_ID_MAX} characters")
    kind_text = str(raw.get("request_type") or "").strip()
    kind = REQUEST_TYPES.get(kind_text) or ENGLISH_TYPES.get(kind_text)
    if kind is None:
        raise ValueError(f"request_type: unknown '{kind_text}'")
    received_text = str(raw.get("received_at") or "").strip()
    if not received_text:
        raise ValueError("received_at is empty")
    values = (
        order_id,
        (utc_text or _UtcText.full)(received_text),
        str(raw.get("channel") or "").strip()[:40],
        kind,
        _names(raw.get("dispatched_to"))[:1000],
        _names(raw.get("returned_by"))[:1000],
        str(raw.get("final_department") or "").strip()[:200],
        _flag(raw.get("valid"), "valid", True),
        (str(raw.get("duplicate_of") or "").strip() or None),
        _flag(raw.get("unfounded"), "unfounded", False),
        (str(raw.get("satisfaction") or "").strip()[:20] or None),
    )
    _check_duplicate_of(values[8])
    _refuse_nul(*values[:7], values[8], values[10])
    return values


class CsvRowConverter:
    """`to_record()` for one CSV file's rows (lists of text), compiled once for its
    header: the same checks in the same order, the same record."""

    def __init__(self, columns: list[str]) -> None:
        position = {name: i for i, name in enumerate(columns)}  # a repeated column: the last wins, as dict(zip()) does
        missing = len(columns)  # an absent column reads as "" (the row gets one "" appended)
        self.width = len(columns)
        self.pick = itemgetter(*(position.get(f, missing) for f in FIELDS))
        self.utc_text = _UtcText()

    def __call__(self, values: list[str]) -> Record:
        values.append("")
        order_id, received, channel, kind_text, dispatched, returned, final, valid, duplicate_of, unfounded, satisfaction = self.pick(values)
        order_id = order_id.strip()
        if not order_id:
            raise ValueError("order_id is empty")
        if len(order_id) > ORDER_ID_MAX:
            raise ValueError(f"order_id is longer than {ORDER_ID_MAX} characters")
        kind = KINDS.get(kind_text)
        if kind is None:
            kind_text = kind_text.strip()
            kind = KINDS.get(kind_text)
            if kind is None:
                raise ValueError(f"request_type: unknown '{kind_text}'")
        received = received.strip()
        if not received:
            raise ValueError("received_at is empty")
        received = self.utc_text(received)
        channel = channel.strip()[:40]
        dispatched = (_names(dispatched) if "|" in dispatched or ";" in dispatched or "；" in dispatched else dispatched.strip())[:1000]
        returned = (_names(returned) if "|" in returned or ";" in returned or "；" in returned else returned.strip())[:1000]
        final = final.strip()[:200]
        flag = FLAGS.get(valid)
        valid = _flag(valid, "valid", True) if flag is None else flag
        duplicate_of = duplicate_of.strip() or None
        flag = FLAGS.get(unfounded)
        unfounded = _flag(unfounded, "unfounded", False) if flag is None else flag
        satisfaction = satisfaction.strip()[:20] or None
        if duplicate_of is not None and len(duplicate_of) > ORDER_ID_MAX:
            _check_duplicate_of(duplicate_of)
        _refuse_nul(order_id, received, channel, dispatched, returned, final, duplicate_of, satisfaction)
        return order_id, received, channel, kind, dispatched, returned, final, valid, duplicate_of, unfounded, satisfaction


def record_values(record: Record) -> dict:
    """A record as column values for SQLAlchemy (received_at as a UTC datetime)."""
    values = dict(zip(STORED, record, strict=True))
    values["received_at"] = dt.datetime.fromisoformat(record[1])
    return values


def header_columns(reader) -> list[str]:
    """The fields the header row names; FileRefused without one or without the required columns."""
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise FileRefused(422, "unreadable-header", "Header row cannot be read 表头无法读取", f"the header row: {exc}") from None
    if header is None:
        raise FileRefused(422, "empty-file", "Empty file 文件为空", "the file has no header row")
    columns = [HEADER_ALIASES.get(h.strip(), h.strip()) for h in header]
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise FileRefused(422, "missing-columns", "Required columns missing 缺少必需列", f"missing: {', '.join(missing)}", columns=missing)
    return columns


def csv_records(reader, line_offset: int, width: int, convert: CsvRowConverter, order_id_at: int) -> Iterator[tuple[int, Record | Rejection]]:
    """(line number, record or rejection) for each row the csv reader gives; the
    line numbers count from `line_offset`. A row the csv module cannot read (a
    field over its limit of 131,072 characters) is rejected with its line, and
    reading goes on from the next line."""
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            line = line_offset + reader.line_num
            yield line, Rejection(line, None, f"unreadable CSV row: {exc}")
            continue
        line = line_offset + reader.line_num
        if len(values) != width:
            if not any(v.strip() for v in values):
                continue
            yield line, Rejection(line, values[0] if values else None, f"expected {width} fields, found {len(values)}")
            continue
        try:
            yield line, convert(values)
        except ValueError as exc:
            if not any(v.strip() for v in values):
                continue  # a blank row (only separators)
            yield line, Rejection(line, values[order_id_at] or None, str(exc))


def read_rows(stream: BinaryIO, file_format: FileFormat, encoding: str | None = None) -> Iterator[tuple[int, Record | Rejection]]:
    """(line number, record or rejection) for each data row. A file without
    the required columns, or not in the encoding, is refused as a whole
    (FileRefused)."""
    encoding = encoding or detect_encoding(stream)
    text = io.TextIOWrapper(stream, encoding=encoding, errors="strict", newline="")
    line = 0
    try:
        if file_format == "csv":
            reader = csv.reader(text)
            columns = header_columns(reader)
            line = 1
            convert = CsvRowConverter(columns)
            order_id_at = max(i for i, c in enumerate(columns) if c == "order_id")
            for line, row in csv_records(reader, 0, len(columns), convert, order_id_at):
                yield line, row
        else:
            utc_text = _UtcText()
            for line, text_line in enumerate(text, start=1):
                if not text_line.strip():
                    continue
                try:
                    raw = json.loads(text_line)
                    if not isinstance(raw, dict):
                        raise ValueError("not a JSON object")
                except ValueError as exc:
                    yield line, Rejection(line, None, f"invalid JSON: {exc}")
                    continue
                raw = {HEADER_ALIASES.get(k, k): v for k, v in raw.items()}
                try:
                    yield line, to_record(raw, utc_text)
                except ValueError as exc:
                    yield line, Rejection(line, str(raw.get("order_id") or "") or None, str(exc))
    except UnicodeDecodeError:
        raise FileRefused(
            422, "wrong-encoding", "File is not UTF-8 or GB18030 文件编码无法识别",
            f"cannot decode the file as {encoding} after line {line}", encoding=encoding, line=line + 1,
        ) from None
    finally:
        try:
            text.detach()
        except ValueError:
            pass  # the stream was closed under us


def returned_key(returned_by: str) -> str:
    """The day counts' key for the units that returned an order ("" for none): short and fixed."""
    return hashlib.md5(returned_by.encode(), usedforsecurity=False).hexdigest() if returned_by else ""


# CLI/endpoint spelling → codec (None: detected from the file).
ENCODINGS = {"auto": None, "utf-8": "utf-8-sig", "gb18030": "gb18030"}
COPY_CHUNK = 50_000  # Postgres rows per COPY and merge
MAX_REJECTIONS_LISTED = 1000
DAY_COUNTS_HELD = 400_000  # summed day-count groups held before they are written (and the parsing thread's limit)
PARSE_AHEAD_MIN_BYTES = 1 << 20  # from this size on, parse in a thread beside the caller


def parse_ahead_wanted(stream: BinaryIO, min_bytes: int = PARSE_AHEAD_MIN_BYTES) -> bool:
    """A parsing thread pays off for a file of more than a block or so."""
    try:
        position = stream.tell()
        size = stream.seek(0, io.SEEK_END)
        stream.seek(position)
    except (AttributeError, OSError, ValueError):
        return False
    return size - position >= min_bytes


# Chunks parsed ahead of the caller. Enough that parsing goes on while the CLI
# loads the database code (about a second); each holds about 12 MB.
PARSED_AHEAD = 6


class ParsedAhead:
    """`columnar.column_chunks(stream, …)` computed by a thread, up to
    PARSED_AHEAD chunks ahead of the caller: the same chunks, rejections and
    line numbers. pyarrow's reader and kernels and psycopg's waits release the
    GIL, so parsing runs on the other core while the caller waits for COPY
    (a parser process did the same, but moved every byte through two pipes
    and paid a second interpreter: a third more CPU). Iterated once; close()
    stops the thread whether it was iterated or not; an error in the thread
    is raised by the iteration."""

    def __init__(self, stream: BinaryIO, file_format: FileFormat, encoding: str, chunk_rows: int, list_at_most: int, time_order: bool = False, totals_up_to: int = 0) -> None:
        self.parsed: queue.Queue = queue.Queue(PARSED_AHEAD)
        self.stopping = threading.Event()
        self.thread = threading.Thread(
            target=self._parse, args=(stream, file_format, encoding, chunk_rows, list_at_most, time_order, totals_up_to), name="work-order-parse", daemon=True,
        )
        self.thread.start()
        self.messages = self._messages()

    def __iter__(self) -> Iterator:
        return self.messages

    def __next__(self):
        return next(self.messages)

    def _parse(self, stream: BinaryIO, *args) -> None:
        from services.scoring.hotline.columnar import column_chunks  # pyarrow, and columnar imports this module

        try:
            for chunk in column_chunks(stream, *args):
                if not self._put(("chunk", chunk)):
                    return
            self._put(("end", None))
        except BaseException as exc:  # noqa: BLE001 (raised again in the caller's thread)
            self._put(("error", exc))

    def _put(self, message: tuple) -> bool:
        while not self.stopping.is_set():
            try:
                self.parsed.put(message, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _messages(self) -> Iterator:
        try:
            while True:
                kind, value = self.parsed.get()
                if kind == "chunk":
                    yield value
                elif kind == "end":
                    return
                else:
                    raise value
        finally:
            self._stop()

    def close(self) -> None:
        self.messages.close()  # a generator never started runs no finally:
        self._stop()

    def _stop(self) -> None:
        self.stopping.set()
        self.thread.join()
