"""网上社会投票 (/polls/{poll_id}), built for a phone: prove who you are, get
your own ballot paper (your own random order), choose within the limit,
confirm, done; turnout live while open, the result once tallied."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from services.portal.polls import verification
from services.portal.polls.verification import VoterCredential
from services.portal.upstream import UpstreamProblem, forwarded_for
from services.portal.web import page, rendered

router = APIRouter(tags=["public vote"])

COOKIE = "pingyi_voter"
# The voter's pass lives only as long as a vote takes.
COOKIE_SECONDS = 15 * 60


def _voting(request: Request):
    return request.app.state.upstreams.voting


async def _poll(request: Request, poll_id: str) -> dict:
    return await _voting(request).get(f"/v1/public-polls/{poll_id}", ttl=request.app.state.settings.live_cache_seconds)


def _credential(request: Request) -> VoterCredential | None:
    return VoterCredential.from_cookie(request.cookies.get(COOKIE))


def _keep(request: Request, response, poll_id: str, credential: VoterCredential):
    response.set_cookie(COOKIE, credential.cookie(), max_age=COOKIE_SECONDS, path=f"/polls/{poll_id}", httponly=True,
                        samesite="strict", secure=request.app.state.settings.secure_cookies)
    return response


async def _start_page(request: Request, poll_id: str, *, error: str | None = None, phone: str = "", code_sent: bool = False,
                      status_code: int = 200):
    poll = await _poll(request, poll_id)
    return page(request, "poll.html", {"poll": poll, "error": error, "phone": phone, "code_sent": code_sent},
                status_code=status_code)


@router.get("/polls/{poll_id}")
async def poll_page(request: Request, poll_id: str):
    return await _start_page(request, poll_id)


@router.get("/polls/{poll_id}/live")
async def poll_live(request: Request, poll_id: str):
    poll = await _poll(request, poll_id)
    return rendered(request, "poll_live.html", {"poll": poll}, key=poll_id, sources=(poll,))


@router.post("/polls/{poll_id}/code")
async def send_code(request: Request, poll_id: str):
    phone = str((await request.form()).get("phone", "")).strip()
    try:
        await verification.request_code(_voting(request), poll_id, phone, forwarded_for(request))
    except UpstreamProblem as exc:
        return await _start_page(request, poll_id, error=exc.chinese, phone=phone, status_code=exc.status)
    return await _start_page(request, poll_id, phone=phone, code_sent=True)


@router.post("/polls/{poll_id}/verify")
async def verify(request: Request, poll_id: str):
    form = await request.form()
    phone, code = str(form.get("phone", "")).strip(), str(form.get("code", "")).strip()
    try:
        credential = await verification.verify_code(_voting(request), poll_id, phone, code, forwarded_for(request))
    except UpstreamProblem as exc:
        return await _start_page(request, poll_id, error=exc.chinese, phone=phone, code_sent=True, status_code=exc.status)
    return _keep(request, RedirectResponse(f"/polls/{poll_id}/ballot", status_code=303), poll_id, credential)


async def _ballot_paper(request: Request, poll_id: str, credential: VoterCredential) -> dict:
    return await _voting(request).send("POST", f"/v1/public-polls/{poll_id}/ballot-papers", json=credential.body(),
                                       headers=forwarded_for(request))


@router.get("/polls/{poll_id}/ballot")
async def ballot(request: Request, poll_id: str):
    credential = _credential(request)
    if credential is None:
        return RedirectResponse(f"/polls/{poll_id}", status_code=303)
    poll = await _poll(request, poll_id)
    try:
        paper = await _ballot_paper(request, poll_id, credential)
    except UpstreamProblem as exc:
        return await _start_page(request, poll_id, error=exc.chinese, status_code=exc.status)
    return page(request, "poll_ballot.html", {"poll": poll, "paper": paper, "chosen": [], "error": None})


def _choices(form, paper: dict) -> tuple[list[str], str | None]:
    chosen = [c for c in form.getlist("choices") if c in paper["options"]]
    if not chosen:
        return chosen, "请至少选择一个部门。"
    if len(chosen) > paper["max_choices"]:
        return chosen, f"最多只能选择{paper['max_choices']}个，您选择了{len(chosen)}个。"
    return chosen, None


async def _submitted(request: Request, poll_id: str) -> tuple[VoterCredential, dict, list[str]] | Response:
    """The voter's credential, the poll and the choices; or the page to show instead."""
    credential = _credential(request)
    if credential is None:
        return RedirectResponse(f"/polls/{poll_id}", status_code=303)
    poll, form = await _poll(request, poll_id), await request.form()
    paper = await _ballot_paper(request, poll_id, credential)
    chosen, error = _choices(form, paper)
    if error:
        return page(request, "poll_ballot.html", {"poll": poll, "paper": paper, "chosen": chosen, "error": error}, status_code=422)
    return credential, poll, chosen


@router.post("/polls/{poll_id}/confirm")
async def confirm(request: Request, poll_id: str):
    submitted = await _submitted(request, poll_id)
    if isinstance(submitted, Response):
        return submitted
    _, poll, chosen = submitted
    return page(request, "poll_confirm.html", {"poll": poll, "chosen": chosen})


@router.post("/polls/{poll_id}/vote")
async def vote(request: Request, poll_id: str):
    submitted = await _submitted(request, poll_id)
    if isinstance(submitted, Response):
        return submitted
    credential, poll, chosen = submitted
    try:
        await _voting(request).send("POST", f"/v1/public-polls/{poll_id}/votes", json={**credential.body(), "choices": chosen},
                                    headers=forwarded_for(request))
    except UpstreamProblem as exc:
        return page(request, "poll_done.html", {"poll": poll, "refused": exc.chinese, "chosen": chosen}, status_code=exc.status)
    response = page(request, "poll_done.html", {"poll": poll, "refused": None, "chosen": chosen})
    response.delete_cookie(COOKIE, path=f"/polls/{poll_id}")
    return response
