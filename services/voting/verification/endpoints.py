"""Verification routes of the public vote (no credential):

1. POST /v1/public-polls/{poll_id}/verification-codes {"phone"} → 202: a 6-digit code by SMS;
2. POST /v1/public-polls/{poll_id}/verifications {"phone", "code"} or {"id_token"} → 201 {"pass", "expires_at"};
3. POST /v1/public-polls/{poll_id}/votes {"pass", "choices"} (services/voting/public).

Both are limited per client address (`verification_code_ip`, `verification_ip`),
across replicas; a phone's codes by the resend cooldown, a day's count and the lock.
Code requests and checks are written in batches by the process's verification
writer (`writer.py`); each answer comes once its batch has committed.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request, Response, status
from starlette.concurrency import run_in_threadpool

from services.voting.verification import service
from services.voting.verification.oidc import IdentityPlatformUnavailable, IdTokenRefused
from services.voting.verification.schemas import CodeRequest, CodeRequested, VerificationIn, VotingPassOut
from services.voting.verification.sms import SmsUnavailable
from services.voting.verification.writer import VerificationWriter
from shared.messaging.events import utcnow
from shared.web.group_commit import app_part, close_app_writer
from shared.web.problems import Problem, problem_responses
from shared.web.ratelimit import client_address, enforce_async


@asynccontextmanager
async def _lifespan(app: FastAPI):
    yield
    await close_app_writer(app, "verification_writer")  # every request still queued is written
    found = getattr(app.state, "verification", None)
    if found is not None:
        found.close()


router = APIRouter(prefix="/v1/public-polls", tags=["public online vote"], lifespan=_lifespan)

def verification_writer(app: FastAPI) -> VerificationWriter:
    """The process's verification writer for this app, started on first use (sized like the vote writer)."""
    settings = app.state.settings
    return app_part(app, "verification_writer", lambda: VerificationWriter(
        app.state.runtime.db, max_batch=settings.public_vote_batch_max, max_queue=settings.public_vote_queue_max))


async def _written(request: Request, item):
    """Queue the item on the writer and wait for its batch's commit: the item as written, or its refusal."""
    written = verification_writer(request.app).submit_async(item)
    wait = request.app.state.settings.public_vote_wait_seconds
    try:
        async with asyncio.timeout(wait):
            return await written  # a request that stops waiting leaves its item in the batch
    except TimeoutError:
        raise Problem(503, "verification-outcome-unknown", "Pending 验证结果未知，请重试",
                      f"the request was not confirmed within {wait:g} s; retry", headers={"Retry-After": "1"}) from None


def _json(body: dict, status_code: int, headers: dict[str, str]) -> Response:
    # Built here rather than by FastAPI from the model: one flow's answers are always these.
    return Response(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode(), status_code=status_code,
                    media_type="application/json", headers=headers)


@router.post("/{poll_id}/verification-codes", status_code=status.HTTP_202_ACCEPTED, response_model=CodeRequested,
             summary="Send a one-time code by SMS (202 whether or not the number has voted)",
             responses=problem_responses(404, 409, 422, 429, 503))
async def request_code(poll_id: str, data: CodeRequest, request: Request) -> Response:
    """A citizen's phone asks for a one-time code by SMS to prove a mobile number before voting (step 1 of 3). The answer
    is the same 202 whether or not the number has voted, so it tells nothing about anyone. No credential; limited per
    client address, by a resend cooldown and a day's count per phone. Causes no event. Refusals: `poll-not-open`
    (409), `verification-method-off` (409, SMS not configured), `verification-locked` (429, too many wrong codes),
    `code-resend-too-soon` (429), `daily-code-limit` (429), `rate-limited` (429), `sms-unavailable` (503, nothing
    counted against the phone), `verification-not-recorded`, `verification-queue-full`, `verification-outcome-unknown`
    (503, retry), `not-found` (404)."""
    verdict = await enforce_async(request, None, "verification_code_ip", client_address(request))
    v = service.verification(request.app)
    if v.gateway is None:
        raise service.method_off("sms")
    reserved = await _written(request, service.CodeRequestIn(v, poll_id, data.phone, utcnow()))
    if not reserved.sent:  # sent by the writer when the gateway is the local file
        try:
            if reserved.send_failed:
                raise SmsUnavailable("the local gateway failed")
            await run_in_threadpool(service.send_code, reserved)
        except SmsUnavailable:
            raise await run_in_threadpool(service.withdraw_code, request.app.state.runtime.db, reserved) from None
    s = v.settings
    return _json({"poll_id": poll_id, "expires_in_seconds": s.verification_code_ttl_seconds,
                  "resend_after_seconds": s.verification_code_resend_seconds}, status.HTTP_202_ACCEPTED, verdict.headers())


def _token_identity(request: Request, v: service.Verification, poll_id: str, id_token: str) -> str:
    with request.app.state.runtime.db.read_sessionmaker() as session:
        service.open_poll(session, poll_id, utcnow())
    try:
        return service.token_identity(v.oidc.verify(id_token))
    except IdTokenRefused as refused:
        raise Problem(401, "id-token-refused", "ID token refused 身份令牌无效", refused.detail,
                      reason=refused.reason) from None
    except IdentityPlatformUnavailable:
        raise Problem(503, "identity-platform-unavailable", "Identity platform unavailable 统一身份认证平台暂不可用",
                      "the identity platform's keys could not be fetched; try again shortly",
                      headers={"Retry-After": "5"}) from None


@router.post("/{poll_id}/verifications", status_code=status.HTTP_201_CREATED, response_model=VotingPassOut,
             summary="Prove a verified identity (SMS code or government ID token) for a voting pass",
             responses=problem_responses(401, 404, 409, 422, 429, 503))
async def verify(poll_id: str, data: VerificationIn, request: Request) -> Response:
    """A citizen's phone proves an identity (step 2 of 3): the SMS code with its phone, or an ID token of the provincial
    government-service login. The answer is a voting pass for this poll, used once with the vote before `expires_at`.
    No credential; limited per client address. Causes no event. Refusals: `wrong-code` (401, with tries left),
    `code-expired` (401), `id-token-refused` (401), `verification-locked` (429), `poll-not-open` (409),
    `verification-method-off` (409), `inconsistent-request` (422, both or neither method),
    `identity-platform-unavailable` (503), `verification-not-recorded`, `verification-queue-full`,
    `verification-outcome-unknown` (503, retry), `rate-limited` (429), `not-found` (404)."""
    verdict = await enforce_async(request, None, "verification_ip", client_address(request))
    v = service.verification(request.app)
    if data.id_token is not None:
        if v.oidc is None:
            raise service.method_off("oidc")
        # The platform's keys may have to be fetched: off the event loop.
        identity = await run_in_threadpool(_token_identity, request, v, poll_id, data.id_token)
    else:
        if v.gateway is None:
            raise service.method_off("sms")
        checked = await _written(request, service.CodeCheckIn(v, poll_id, data.phone, data.code, utcnow()))
        identity = checked.identity
    token, expires_at = v.issue_pass(poll_id, identity, utcnow())
    return _json({"pass": token, "expires_at": expires_at.isoformat().replace("+00:00", "Z")},
                 status.HTTP_201_CREATED, verdict.headers())
