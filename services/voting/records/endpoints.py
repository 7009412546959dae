from __future__ import annotations

from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.voting.meetings.access import Reader
from services.voting.records import service
from services.voting.records.schemas import MeetingRecord
from shared.web.documents import html_to_pdf, render_html
from shared.web.problems import problem_responses
from shared.security.access import require_meeting
from shared.ops.runtime import SessionDep

router = APIRouter(prefix="/v1", tags=["meeting records"])
TEMPLATES = Path(__file__).parent / "templates"
FORMATS = {"application/json": "json", "text/html": "html", "application/pdf": "pdf"}


def wanted_format(request: Request, format_: str | None) -> str:
    """`?format=` wins; else the first of our media types the Accept header names; else JSON."""
    if format_:
        return format_
    accept = request.headers.get("accept", "")
    named = [(accept.find(media), fmt) for media, fmt in FORMATS.items() if media in accept]
    return min(named)[1] if named else "json"


@router.get(
    "/meetings/{meeting_id}/record", response_model=MeetingRecord,
    summary="The meeting's voting record (会议表决结果): JSON, or printable HTML and PDF in Chinese",
    responses=problem_responses(403, 404) | {200: {"content": {"text/html": {}, "application/pdf": {}}}},
)
def get_meeting_record(meeting_id: str, request: Request, session: SessionDep, principal: Reader,
                       format: Literal["json", "html", "pdf"] | None = Query(None, description="or send Accept: text/html / application/pdf")):
    """The clerk, a member or an archive system (`voting:read`; a member token for its own meeting) reads the meeting's
    voting record (会议表决结果): 应到, 实到, absent names and 列席, then every finished ballot in agenda order with its counts,
    quorum line, base, grade, winners and rounds; never who voted what. JSON by default; printable Chinese HTML or PDF
    with `?format=html|pdf` or the Accept header. Changes nothing. Refusals: `not-found` (404), `other-meeting` (403)."""
    require_meeting(principal, meeting_id)  # a member token reads its own meeting's record only
    record = service.meeting_record(session, meeting_id)
    fmt = wanted_format(request, format)
    if fmt == "json":
        return record
    html = render_html(TEMPLATES, "meeting_record.html", record=record)
    if fmt == "html":
        return HTMLResponse(html)
    return Response(html_to_pdf(html), media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="meeting-record-{record.held_on}.pdf"'})
