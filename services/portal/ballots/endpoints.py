"""The member's voting page (/vote/{ballot_id}), for a member's phone or the
seat's terminal: sign in with one's own member token (the clerk hands it over,
e.g. as the QR code on the seat card), see the ballot, choose, confirm, and
get the receipt. Voting decides; the page shows its answer in Chinese."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from urllib.parse import quote

import jwt
from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from services.portal.upstream import UpstreamProblem
from services.portal.web import ANSWER_LABELS, page

router = APIRouter(tags=["member voting"])

COOKIE = "pingyi_member"
COOKIE_PATH = "/vote"
SATISFACTION_LABELS = {"satisfied": "满意", "basically_satisfied": "基本满意", "unsatisfied": "不满意"}


def token_claims(token: str) -> dict | None:
    """Who the token says it is (for the page only: voting checks the signature on every call)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    return claims if isinstance(claims.get("sub"), str) and isinstance(claims.get("mtg"), str) else None


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _signed_in(request: Request) -> tuple[str, dict] | None:
    token = request.cookies.get(COOKIE)
    claims = token_claims(token) if token else None
    return (token, claims) if claims else None


def _to_sign_in(next_path: str) -> RedirectResponse:
    return RedirectResponse(f"/vote/sign-in?next={quote(next_path)}", status_code=303)


def _safe_next(value: str | None) -> str:
    return value if value and value.startswith("/vote") and not value.startswith("//") else "/vote"


@router.get("/vote/sign-in")
async def sign_in_form(request: Request, next: str | None = None):
    return page(request, "vote_sign_in.html", {"next": _safe_next(next), "error": None})


@router.post("/vote/sign-in")
async def sign_in(request: Request):
    form = await request.form()
    token, next_path = str(form.get("token", "")).strip(), _safe_next(str(form.get("next") or ""))
    claims = token_claims(token)
    error = "凭证格式不正确，请重新扫描座位卡上的二维码。" if claims is None else None
    if claims is not None:
        try:
            await request.app.state.upstreams.voting.send("GET", f"/v1/meetings/{claims['mtg']}", headers=_bearer(token))
        except UpstreamProblem as exc:
            error = f"无法登录：{exc.chinese}"
    if error:
        return page(request, "vote_sign_in.html", {"next": next_path, "error": error}, status_code=401)
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(COOKIE, token, max_age=12 * 3600, path=COOKIE_PATH, httponly=True, samesite="strict",
                        secure=request.app.state.settings.secure_cookies)
    return response


@router.post("/vote/sign-out")
async def sign_out(request: Request):
    response = RedirectResponse("/vote/sign-in", status_code=303)
    response.delete_cookie(COOKIE, path=COOKIE_PATH)
    return response


async def _member(request: Request, token: str, claims: dict) -> dict:
    meeting = await request.app.state.upstreams.voting.send("GET", f"/v1/meetings/{claims['mtg']}", headers=_bearer(token))
    name = next((m["name"] for m in meeting.get("members", []) if m["member_id"] == claims["sub"]), claims["sub"])
    return {"member_id": claims["sub"], "name": name, "meeting": meeting}


@router.get("/vote")
async def current_ballot(request: Request):
    """The ballot open now in the member's meeting; the page waits for the next one otherwise."""
    signed_in = _signed_in(request)
    if signed_in is None:
        return _to_sign_in("/vote")
    token, claims = signed_in
    member = await _member(request, token, claims)
    board = await request.app.state.upstreams.voting.get(f"/v1/public/meetings/{claims['mtg']}/board",
                                                         ttl=request.app.state.settings.live_cache_seconds)
    ballot = board["ballot"]
    if ballot and ballot["status"] == "open":
        return RedirectResponse(f"/vote/{ballot['id']}", status_code=303)
    return page(request, "vote_waiting.html", {"member": member, "last": ballot})


async def _ballot(request: Request, ballot_id: str, token: str) -> dict:
    return await request.app.state.upstreams.voting.send("GET", f"/v1/ballots/{ballot_id}", headers=_bearer(token))


def options(ballot: dict) -> list[tuple[str, str]]:
    if ballot["kind"] == "satisfaction":
        return list(SATISFACTION_LABELS.items())
    if ballot["kind"] == "resolution":
        return list(ANSWER_LABELS.items())
    return [(c, c) for c in ballot.get("candidates") or []]


def read_choices(ballot: dict, form) -> tuple[dict, list[str]]:
    """The vote body from the form, and what the member must still fix (in Chinese)."""
    errors: list[str] = []
    codes = dict(options(ballot))
    if ballot["kind"] == "satisfaction":
        choice = form.get("choice")
        if choice not in codes:
            errors.append("请选择满意、基本满意或不满意中的一项。")
        return {"choice": choice}, errors
    if ballot["kind"] == "resolution":
        answers = {}
        for q in ballot["questions"]:
            value = form.get(f"q-{q['id']}")
            if value in codes:
                answers[q["id"]] = value
        if not answers:
            errors.append("请至少对一个事项表示赞成、反对或弃权。")
        return {"answers": answers}, errors
    marks = [m for m in form.getlist("marks") if m in codes]
    limit = ballot.get("seats") or ballot.get("max_choices") or len(codes)
    if len(marks) > limit:
        errors.append(f"最多只能选择{limit}个，您选择了{len(marks)}个。")
    return {"marks": marks}, errors


def summary(ballot: dict, body: dict) -> list[str]:
    labels = dict(options(ballot))
    if "choice" in body:
        return [labels[body["choice"]]]
    if "answers" in body:
        return [f"{q['text']}：{labels[body['answers'][q['id']]]}" if q["id"] in body["answers"] else f"{q['text']}：未表决"
                for q in ballot["questions"]]
    return [f"选择：{'、'.join(body['marks'])}" if body["marks"] else "未选择任何候选（空白票）"]


@router.get("/vote/{ballot_id}")
async def ballot_page(request: Request, ballot_id: str):
    signed_in = _signed_in(request)
    if signed_in is None:
        return _to_sign_in(f"/vote/{ballot_id}")
    token, claims = signed_in
    member = await _member(request, token, claims)
    ballot = await _ballot(request, ballot_id, token)
    return page(request, "vote_ballot.html", {"member": member, "ballot": ballot, "options": options(ballot),
                                              "errors": [], "chosen": {}})


@dataclass
class Submitted:
    """A signed-in member's filled-in ballot, read back from the form."""

    token: str
    claims: dict
    member: dict
    ballot: dict
    form: object
    body: dict


async def _submitted(request: Request, ballot_id: str) -> Submitted | Response:
    """The form as a vote body, or the page to show instead (sign in first; fix the choices)."""
    signed_in = _signed_in(request)
    if signed_in is None:
        return _to_sign_in(f"/vote/{ballot_id}")
    token, claims = signed_in
    member, ballot, form = await _member(request, token, claims), await _ballot(request, ballot_id, token), await request.form()
    body, errors = read_choices(ballot, form)
    if errors:
        return page(request, "vote_ballot.html", {"member": member, "ballot": ballot, "options": options(ballot),
                                                  "errors": errors, "chosen": body}, status_code=422)
    return Submitted(token, claims, member, ballot, form, body)


@router.post("/vote/{ballot_id}/confirm")
async def confirm(request: Request, ballot_id: str):
    s = await _submitted(request, ballot_id)
    if isinstance(s, Response):
        return s
    return page(request, "vote_confirm.html", {"member": s.member, "ballot": s.ballot, "body": s.body,
                                               "summary": summary(s.ballot, s.body), "attempt": uuid.uuid4().hex})


@router.post("/vote/{ballot_id}/cast")
async def cast(request: Request, ballot_id: str):
    s = await _submitted(request, ballot_id)
    if isinstance(s, Response):
        return s
    # The confirmation's own key: pressing 确认 twice gets the same receipt, not a refusal.
    attempt = str(s.form.get("attempt") or uuid.uuid4().hex)[:100]
    try:
        receipt = await request.app.state.upstreams.voting.send(
            "POST", f"/v1/ballots/{ballot_id}/votes", json={"member_id": s.claims["sub"], **s.body},
            headers={**_bearer(s.token), "Idempotency-Key": f"portal-{attempt}"})
    except UpstreamProblem as exc:
        return page(request, "vote_refused.html", {"member": s.member, "ballot": s.ballot, "reason": exc.chinese,
                                                   "slug": exc.slug}, status_code=exc.status)
    return page(request, "vote_receipt.html", {"member": s.member, "ballot": s.ballot, "receipt": receipt["receipt_code"],
                                               "summary": summary(s.ballot, s.body)})
