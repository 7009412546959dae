"""大屏: the chamber board the clerk puts on the hall's screen. The page polls
its own fragment (ETag → 304 while nothing changed) and follows the meeting
from ballot to ballot by itself."""

from __future__ import annotations

from fastapi import APIRouter, Request

from services.portal.domain.board import not_pressed, quorum_line, turnout_percent
from services.portal.upstream import UpstreamProblem, Upstreams
from services.portal.web import page, rendered

router = APIRouter(tags=["chamber board"])

# The board script asks this often; with the portal's and voting's short caches a vote shows within a second.
POLL_MILLISECONDS = 300


async def board_state(up: Upstreams, meeting_id: str, ttl: float) -> dict:
    board = await up.voting.get(f"/v1/public/meetings/{meeting_id}/board", ttl=ttl)
    ballot, grade = board["ballot"], None
    if ballot and ballot["kind"] == "satisfaction" and ballot["status"] in ("closed", "published"):
        try:
            grade = await up.scoring.get(f"/v1/public/satisfaction-results/{ballot['id']}", ttl=ttl)
        except UpstreamProblem as exc:
            if exc.status != 404:
                raise  # 404: scoring has not graded it yet; the board says so and asks again
    return {"board": board, "ballot": ballot, "grade": grade,
            "quorum_line": quorum_line(board["members_total"], board["present"], board["quorum"]),
            "not_pressed": not_pressed, "turnout_percent": turnout_percent}


def _ttl(request: Request) -> float:
    return request.app.state.settings.live_cache_seconds


@router.get("/board/{meeting_id}")
async def board_page(request: Request, meeting_id: str):
    state = await board_state(request.app.state.upstreams, meeting_id, _ttl(request))
    return page(request, "board.html", {**state, "meeting_id": meeting_id, "poll_ms": POLL_MILLISECONDS})


@router.get("/board/{meeting_id}/live")
async def board_fragment(request: Request, meeting_id: str):
    state = await board_state(request.app.state.upstreams, meeting_id, _ttl(request))
    return rendered(request, "board_live.html", state, key=meeting_id, sources=(state["board"], state["grade"]))
