"""Reading 12345 work-order files (CSV or JSON Lines, UTF-8 or GB18030) one row
at a time: the file is never held whole in memory. Each row comes out as a
validated record or a rejection with its line number and reason."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Literal
from zoneinfo import ZoneInfo

from services.scoring.domain.complaints import REQUEST_TYPES
from shared.problems import Problem

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
REQUIRED = ("order_id", "received_at", "request_type", "final_department")
ENGLISH_TYPES = {v: v for v in REQUEST_TYPES.values()}
FLAGS = {**dict.fromkeys(("1", "true", "yes", "是", "y", "t"), True), **dict.fromkeys(("0", "false", "no", "否", "n", "f"), False)}


@dataclass(frozen=True)
class Rejection:
    line: int
    order_id: str | None
    reason: str


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


def _time(value) -> dt.datetime:
    text = str(value or "").strip()
    if not text:
        raise ValueError("received_at is empty")
    try:
        parsed = dt.datetime.fromisoformat(text.replace("/", "-"))
    except ValueError:
        raise ValueError(f"received_at: '{text}' is not a date and time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=CHINA)  # the platform writes Beijing time
    return parsed.astimezone(dt.UTC)


def to_record(raw: dict) -> dict:
    """A validated row ready to store; raises ValueError with the reason."""
    order_id = str(raw.get("order_id") or "").strip()
    if not order_id:
        raise ValueError("order_id is empty")
    if len(order_id) > 64:
        raise ValueError("order_id is longer than 64 characters")
    kind_text = str(raw.get("request_type") or "").strip()
    kind = REQUEST_TYPES.get(kind_text) or ENGLISH_TYPES.get(kind_text)
    if kind is None:
        raise ValueError(f"request_type: unknown '{kind_text}'")
    record = {
        "order_id": order_id,
        "received_at": _time(raw.get("received_at")),
        "channel": str(raw.get("channel") or "").strip()[:40],
        "request_type": kind,
        "dispatched_to": _names(raw.get("dispatched_to"))[:1000],
        "returned_by": _names(raw.get("returned_by"))[:1000],
        "final_department": str(raw.get("final_department") or "").strip()[:200],
        "valid": _flag(raw.get("valid"), "valid", True),
        "duplicate_of": (str(raw.get("duplicate_of") or "").strip() or None),
        "unfounded": _flag(raw.get("unfounded"), "unfounded", False),
        "satisfaction": (str(raw.get("satisfaction") or "").strip()[:20] or None),
    }
    digest_source = "\x1f".join(map(str, record.values()))
    record["row_digest"] = hashlib.md5(digest_source.encode(), usedforsecurity=False).hexdigest()
    return record


def read_rows(stream: BinaryIO, file_format: FileFormat, encoding: str | None = None) -> Iterator[tuple[int, dict | Rejection]]:
    """(line number, record or rejection) for each data row. A file without
    the required columns, or not in the encoding, is refused as a whole."""
    encoding = encoding or detect_encoding(stream)
    text = io.TextIOWrapper(stream, encoding=encoding, errors="strict", newline="")
    line = 0
    try:
        if file_format == "csv":
            reader = csv.reader(text)
            header = next(reader, None)
            line = 1
            if header is None:
                raise Problem(422, "empty-file", "Empty file 文件为空", "the file has no header row")
            columns = [HEADER_ALIASES.get(h.strip(), h.strip()) for h in header]
            missing = [c for c in REQUIRED if c not in columns]
            if missing:
                raise Problem(422, "missing-columns", "Required columns missing 缺少必需列", f"missing: {', '.join(missing)}", columns=missing)
            for values in reader:
                line = reader.line_num
                if not any(v.strip() for v in values):
                    continue
                if len(values) != len(columns):
                    yield line, Rejection(line, values[0] if values else None, f"expected {len(columns)} fields, found {len(values)}")
                    continue
                raw = dict(zip(columns, values, strict=True))
                try:
                    yield line, to_record(raw)
                except ValueError as exc:
                    yield line, Rejection(line, raw.get("order_id") or None, str(exc))
        else:
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
                    yield line, to_record(raw)
                except ValueError as exc:
                    yield line, Rejection(line, str(raw.get("order_id") or "") or None, str(exc))
    except UnicodeDecodeError:
        raise Problem(
            422, "wrong-encoding", "File is not UTF-8 or GB18030 文件编码无法识别",
            f"cannot decode the file as {encoding} after line {line}", encoding=encoding, line=line + 1,
        ) from None
    finally:
        text.detach()
