"""Cursor pagination with a stable order: `limit` ≤ 100 and an opaque `cursor`
that encodes the sort key of the last row returned (keyset pagination, so
pages neither skip nor repeat rows when others are inserted)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field
from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from shared.web.problems import Problem
from shared.web.text import text

T = TypeVar("T")

Limit = Annotated[int, Query(ge=1, le=100, description="page size, at most 100")]
Cursor = Annotated[text(500) | None, Query(description="`next_cursor` of the previous page")]


class Page(BaseModel, Generic[T]):
    items: list[T] = Field(description="this page's items, in the list's stable order; at most `limit`")
    next_cursor: str | None = Field(None, description="pass as `cursor` for the next page; null on the last page")


def encode_cursor(values: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(values), default=str).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, width: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != width:
            raise ValueError
        return values
    except Exception:
        raise Problem(422, "invalid-cursor", "Invalid cursor 分页游标无效", "cursor is not one this API returned") from None


def paginate(
    session: Session,
    stmt: Select,
    order_by: Sequence[InstrumentedAttribute],
    *,
    limit: int,
    cursor: str | None,
    to_item: Callable[[Any], T],
) -> Page[T]:
    """Rows of `stmt` in ascending `order_by` (its last column must be unique)."""
    if cursor:
        values = decode_cursor(cursor, len(order_by))
        values = [_from_cursor(col, v) for col, v in zip(order_by, values, strict=True)]
        # (a, b) > (x, y)  ==  a > x OR (a = x AND b > y), portable to SQLite.
        clauses = []
        for i, column in enumerate(order_by):
            equal = [order_by[j] == values[j] for j in range(i)]
            clauses.append(and_(*equal, column > values[i]))
        stmt = stmt.where(or_(*clauses))
    rows = list(session.scalars(stmt.order_by(*order_by).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more and rows:
        last = rows[-1]
        next_cursor = encode_cursor([_cursor_value(getattr(last, c.key)) for c in order_by])
    return Page[Any](items=[to_item(r) for r in rows], next_cursor=next_cursor)


def _from_cursor(column: InstrumentedAttribute, value: Any) -> Any:
    if value is None:
        return None
    column_type = column.type
    column_type = getattr(column_type, "impl", column_type)  # see through TypeDecorators
    try:
        python_type = column_type.python_type
    except NotImplementedError:
        return value
    try:
        if python_type in (dt.date, dt.datetime):
            return python_type.fromisoformat(value)
        return python_type(value)
    except (TypeError, ValueError):
        raise Problem(422, "invalid-cursor", "Invalid cursor 分页游标无效", "cursor is not one this API returned") from None


def _cursor_value(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
