"""The field types every request schema is built from: text, names, dates, times.

One definition for the whole API, so that what one endpoint refuses every
endpoint refuses, with the same `code` in the problem's `errors`:

- text is normalised to NFC and never holds NUL, C0/C1 control characters or
  lone surrogates (Postgres refuses NUL; a surrogate cannot be stored as UTF-8);
  `prose` (free text: reports, findings, replies) may hold tab and line breaks;
- names (departments, members, meetings, candidates) also refuse bidi
  overrides and zero-width characters (they could make two names look the
  same or reorder what a page shows), are trimmed and never blank;
- every string has a maximum length, checked again after normalisation;
- dates lie in 1949-10-01..2100-12-31 and are ISO strings (never numbers);
  datetimes are ISO strings that carry their UTC offset, with the date part in
  the same range, so no arithmetic on them can overflow.

Each rule is also in the JSON Schema (`pattern`, `maxLength`), so the OpenAPI
says exactly what is accepted.

`RequestModel` is the base of every request body: unknown fields are refused,
and JSON types are strict (no `true` or `"2021"` for an integer, no string for
a number); dates and times are the exception, as JSON has no date type.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

# C0 (U+0000..U+001F), DEL and C1 (U+007F..U+009F); and UTF-16 surrogates.
_CONTROLS = "\\x00-\\x1f\\x7f-\\x9f"
_PROSE_CONTROLS = "\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f"  # tab, LF and CR allowed
# Bidi embeddings/overrides/isolates and marks, zero-width characters, word joiner, BOM.
_INVISIBLE = "\\u061c\\u200b-\\u200f\\u202a-\\u202e\\u2060-\\u2069\\ufeff"

_SURROGATE = re.compile("[\ud800-\udfff]")

DATE_MIN = dt.date(1949, 10, 1)
DATE_MAX = dt.date(2100, 12, 31)
# The year (and for 1949 the month) as JSON Schema can say it: with `format` it is the range above.
_YEAR_RANGE = r"(1949-1[0-2]|19[5-9]\d-\d\d|20\d\d-\d\d|2100-\d\d)"
DATE_PATTERN = rf"^{_YEAR_RANGE}-\d\d$"
DATETIME_PATTERN = rf"^{_YEAR_RANGE}-\d\dT\d\d:\d\d(:\d\d(\.\d{{1,6}})?)?(Z|z|[+-]\d\d:\d\d)$"


@dataclass(frozen=True)
class _JsonSchemaExtra:
    """Adds keywords to a type's JSON Schema (and so to the OpenAPI)."""

    extra: tuple[tuple[str, Any], ...]

    def __get_pydantic_json_schema__(self, core_schema, handler):
        schema = handler(core_schema)
        schema.update(dict(self.extra))
        return schema


def _refuse(code: str, message: str, **context: Any) -> PydanticCustomError:
    return PydanticCustomError(code, message, context)


def _checker(*, max_length: int, refused: str, name: bool):
    refused_chars = re.compile(f"[{refused}]")

    def check(value: Any) -> Any:
        if not isinstance(value, str):
            return value  # the str schema refuses it
        if (bad := _SURROGATE.search(value)) is not None:
            raise _refuse("text_surrogate", "must be valid Unicode (a lone surrogate is at position {position})",
                          position=bad.start())
        value = unicodedata.normalize("NFC", value)
        if (bad := refused_chars.search(value)) is not None:
            kind = "text_invisible_character" if re.match(f"[{_INVISIBLE}]", bad.group()) else "text_control_character"
            what = "bidi or zero-width" if kind == "text_invisible_character" else "control"
            raise _refuse(kind, "must not contain {what} characters (U+{codepoint} at position {position})",
                          what=what, codepoint=f"{ord(bad.group()):04X}", position=bad.start())
        if name:
            value = value.strip()
            if not value:
                raise _refuse("text_blank", "must not be blank")
        if len(value) > max_length:
            raise _refuse("text_too_long", "must have at most {max_length} characters once normalised",
                          max_length=max_length)
        return value

    return check


def _string(max_length: int, min_length: int, *, refused: str, pattern: str, name: bool = False) -> Any:
    return Annotated[
        str,
        StringConstraints(min_length=min_length, max_length=max_length),
        BeforeValidator(_checker(max_length=max_length, refused=refused, name=name)),
        _JsonSchemaExtra((("pattern", pattern),)),
    ]


def text(max_length: int, *, min_length: int = 0) -> Any:
    """One line of text: NFC, no control characters."""
    return _string(max_length, min_length, refused=_CONTROLS, pattern=f"^[^{_CONTROLS}]*$")


def prose(max_length: int, *, min_length: int = 1) -> Any:
    """Free text that may run over several lines (tab, LF, CR allowed)."""
    return _string(max_length, min_length, refused=_PROSE_CONTROLS, pattern=f"^[^{_PROSE_CONTROLS}]*$")


def name(max_length: int = 200) -> Any:
    """A name people read: one line, no bidi or zero-width characters, trimmed, never blank."""
    refused = _CONTROLS + _INVISIBLE
    return _string(max_length, 1, refused=refused, name=True,
                   pattern=f"^[^{refused}]*[^\\s{refused}][^{refused}]*$")


# An id the API handed out or a caller chose (member ids, question ids, plan ids).
Identifier = text(100, min_length=1)
# What every department is called on a request: a name of at most 200 characters.
DepartmentName = name(200)
PersonName = name(100)
Url = text(1000, min_length=1)


def _iso_string(pattern: str, what: str):
    compiled = re.compile(pattern)

    def check(value: Any) -> Any:
        if isinstance(value, dt.date):
            return value  # from Python code, not JSON
        if not isinstance(value, str):
            raise _refuse(f"{what}_type", "must be a string in ISO 8601 form, not a JSON {kind}", kind=_json_kind(value))
        if not compiled.match(value):
            if what == "datetime":
                raise _refuse("datetime_form", "must read YYYY-MM-DDTHH:MM[:SS[.ffffff]] with an offset (Z or ±HH:MM), "
                              "dated {minimum}..{maximum}", minimum=str(DATE_MIN), maximum=str(DATE_MAX))
            raise _refuse("date_form", "must read YYYY-MM-DD, dated {minimum}..{maximum}",
                          minimum=str(DATE_MIN), maximum=str(DATE_MAX))
        return value

    return check


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {list: "array", dict: "object", type(None): "null"}.get(type(value), type(value).__name__)

Date = Annotated[
    dt.date,
    Strict(False),
    BeforeValidator(_iso_string(DATE_PATTERN, "date")),
    _JsonSchemaExtra((("pattern", DATE_PATTERN), ("x-minimum", str(DATE_MIN)), ("x-maximum", str(DATE_MAX)))),
]
"""A calendar date, `YYYY-MM-DD`, from 1949-10-01 to 2100-12-31."""

DateTime = Annotated[
    dt.datetime,
    Strict(False),
    BeforeValidator(_iso_string(DATETIME_PATTERN, "datetime")),
    _JsonSchemaExtra((("pattern", DATETIME_PATTERN), ("x-minimum", f"{DATE_MIN}T00:00:00"),
                      ("x-maximum", f"{DATE_MAX}T23:59:59"))),
]
"""An instant with its UTC offset, e.g. `2026-05-01T09:00:00+08:00`; its date from 1949-10-01 to 2100-12-31."""


def _integral(value: Any) -> Any:
    # JSON has one number type: 5.0 is the integer 5 (JSON Schema's "integer" takes it), 5.5 is
    # not. A strict float field takes the int as well; booleans and strings stay what they are.
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


@dataclass(frozen=True)
class _PropertyNames:
    """The JSON Schema `propertyNames` pattern of a mapping (pydantic would turn a key's pattern
    into `patternProperties`, which constrains nothing for other keys)."""

    pattern: str

    def __get_pydantic_json_schema__(self, core_schema, handler):
        schema = handler(core_schema)
        schema.pop("patternProperties", None)
        schema.setdefault("propertyNames", {})["pattern"] = self.pattern
        return schema


def mapping(value: Any, *, max_length: int, key_max_length: int = 100, names: bool = False) -> Any:
    """A JSON object of at most `max_length` entries, keyed by ids (or by names)."""
    refused = _CONTROLS + (_INVISIBLE if names else "")
    key = Annotated[str, StringConstraints(min_length=1, max_length=key_max_length),
                    BeforeValidator(_checker(max_length=key_max_length, refused=refused, name=names))]
    return Annotated[dict[key, value], Field(max_length=max_length),
                     _PropertyNames(f"^[^{refused}]*[^\\s{refused}][^{refused}]*$" if names else f"^[^{refused}]+$")]


class RequestModel(BaseModel):
    """The base of every request body: no unknown fields, strict JSON types, no NaN or infinity."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _json_numbers(cls, data: Any) -> Any:
        return _integral(data)
