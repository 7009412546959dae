from __future__ import annotations

import datetime as dt
import tempfile
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select

from services.scoring.hotline import service
from services.scoring.hotline.parsing import ENCODINGS
from services.scoring.hotline.schemas import (
    AliasCreate,
    AliasOut,
    ImportSummaryOut,
    NetComplaintsOut,
    NetComplaintsReport,
    UnmatchedNameOut,
    summary_out,
)
from services.scoring.models import DepartmentAlias
from shared.security.credentials import Principal
from shared.security.idempotency import IdempotencyDep
from shared.web.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor, paginate
from shared.web.problems import Problem, problem_responses
from shared.security.access import require, require_department
from shared.ops.runtime import SessionDep
from shared.web.text import DepartmentName

router = APIRouter(prefix="/v1/hotline", tags=["12345 hotline"])

SPOOL_BYTES = 8 << 20
READ = [Depends(require("scoring:read"))]
# Aliases decide whose complaints an order counts for: a person's call, not the importer's.
Writer = Annotated[Principal, Depends(require("scoring:write"))]


@router.post(
    "/work-order-imports",
    response_model=ImportSummaryOut,
    responses=problem_responses(422),
    summary="Import work orders (the request body is the CSV or JSON Lines file)",
    dependencies=[Depends(require("scoring:import"))],
)
async def import_work_orders(
    request: Request,
    session: SessionDep,
    format: Literal["csv", "jsonl"] = Query("csv"),
    encoding: Literal["auto", "utf-8", "gb18030"] = Query("auto"),
) -> ImportSummaryOut:
    # Spooled to disk past 8 MB: the upload is never held whole in memory.
    """The 12345 platform's export job (`scoring:import`) uploads a file of work orders: the request body is the CSV (a
    header row naming 工单编号/order_id, received_at, request_type, final_department and optional columns) or JSON Lines,
    UTF-8 or GB18030. Each row is stored or updated by order id; rows that break a rule are listed with line and
    reason, never stored. Unknown department names are listed for mapping. Net complaints are then taken per period
    with POST …/sources/net_complaints/from-hotline. Causes no event. Refusals: `validation-error` (422, format or
    encoding), 422 naming a file with no header or required column, `body-too-large` (413)."""
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        async for chunk in request.stream():
            spool.write(chunk)
        spool.seek(0)

        def run() -> service.ImportSummary:
            try:
                summary = service.import_work_orders(session, spool, format, ENCODINGS[encoding])
                session.commit()
                return summary
            except BaseException:
                session.rollback()
                raise

        return summary_out(await run_in_threadpool(run))


@router.post("/department-aliases", status_code=201, response_model=AliasOut, responses=problem_responses(409, 422), summary="Map a hotline name to a department")
def add_alias(data: AliasCreate, session: SessionDep, idem: IdempotencyDep, principal: Writer) -> AliasOut:
    # A department's credential maps names to its own department only.
    """An operator (`scoring:write`; a department's key for its own department only) maps a name as the 12345 platform
    writes it to a plan's department, so its work orders count for it. Takes an `Idempotency-Key`. Causes no event.
    Refusals: `alias-taken` (409), `empty-name` (422), `other-department` (403), `idempotency-key-reused` (422)."""
    require_department(principal, data.department.strip())
    if (stored := idem.replay(session)) is not None:
        return stored
    row = service.add_alias(session, data.alias, data.department)
    body = AliasOut(alias=row.alias, department=row.department, created_at=row.created_at)
    idem.record(session, 201, body)
    session.commit()
    return body


@router.get("/department-aliases", response_model=Page[AliasOut], summary="Hotline names mapped to departments", dependencies=READ)
def list_aliases(session: SessionDep, limit: Limit = 50, cursor: Cursor = None) -> Page[AliasOut]:
    """Operators (`scoring:read`) list the names mapped to departments, by name. Changes nothing. Refusals:
    `invalid-cursor` (422)."""
    return paginate(
        session, select(DepartmentAlias), [DepartmentAlias.alias], limit=limit, cursor=cursor,
        to_item=lambda r: AliasOut(alias=r.alias, department=r.department, created_at=r.created_at),
    )


@router.get("/unmatched-departments", response_model=Page[UnmatchedNameOut], summary="Names waiting for a person to map, most orders first",
            dependencies=READ)
def unmatched(session: SessionDep, limit: Limit = 50, cursor: Cursor = None) -> Page[UnmatchedNameOut]:
    # Counted per name, not rows of a table: the page is cut from the sorted
    # counts, resuming after the last (orders, name) returned.
    """Operators (`scoring:read`) list the department names in work orders that nothing maps yet, most orders first, to
    map them by hand. Changes nothing. Refusals: `invalid-cursor` (422)."""
    rows = sorted(service.unmatched_names(session), key=lambda r: (-r["orders"], r["name"]))
    if cursor:
        orders, name = decode_cursor(cursor, 2)
        if not isinstance(orders, int) or not isinstance(name, str):
            raise Problem(422, "invalid-cursor", "Invalid cursor 分页游标无效", "cursor is not one this API returned")
        rows = [r for r in rows if (-r["orders"], r["name"]) > (-orders, name)]
    page = rows[:limit]
    more = len(rows) > limit
    return Page[UnmatchedNameOut](
        items=[UnmatchedNameOut(**r) for r in page],
        next_cursor=encode_cursor([page[-1]["orders"], page[-1]["name"]]) if more else None,
    )


@router.get("/net-complaints", response_model=NetComplaintsReport, summary="群众净投诉量 per department, with every exclusion",
            dependencies=READ)
def net_complaints(
    session: SessionDep,
    start: dt.datetime | None = Query(None, description="received at or after (ISO 8601; naive = UTC)"),
    end: dt.datetime | None = Query(None, description="received before"),
    department: DepartmentName | None = Query(None),
) -> NetComplaintsReport:
    """The office (`scoring:read`) reads 群众净投诉量 per department over a period, with every exclusion counted
    (consultations, suggestions, invalid, duplicate, unfounded, redispatched away). Changes nothing. Refusals:
    `validation-error` (422)."""
    start = start.replace(tzinfo=dt.UTC) if start and start.tzinfo is None else start
    end = end.replace(tzinfo=dt.UTC) if end and end.tzinfo is None else end
    counts, unmatched_counts = service.net_complaints(session, start, end)
    rows = sorted(counts.values(), key=lambda c: (-c.net, c.department))
    if department:
        rows = [r for r in rows if r.department == department]
    return NetComplaintsReport(
        start=start,
        end=end,
        departments=[NetComplaintsOut(department=r.department, net_complaints=r.net, received=r.received, excluded=r.excluded) for r in rows],
        unmatched=[UnmatchedNameOut(name=n, orders=c) for n, c in sorted(unmatched_counts.items(), key=lambda x: (-x[1], x[0]))],
    )
