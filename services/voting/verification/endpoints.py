"""Verification routes of the public vote (no credential):

1. POST /v1/public-polls/{poll_id}/verification-codes {"phone"} → 202: a 6-digit code by SMS;
2. POST /v1/public-polls/{poll_id}/verifications {"phone", "code"} or {"id_token"} → 201 {"pass", "expires_at"};
3. POST /v1/public-polls/{poll_id}/votes {"pass", "choices"} (services/voting/public).

Both are limited per client address (`verification_code_ip`, `verification_ip`),
across replicas; a phone's codes by the resend cooldown, a day's count and the lock.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request, Response, status

from services.voting.verification import service
from services.voting.verification.oidc import IdentityPlatformUnavailable, IdTokenRefused
from services.voting.verification.schemas import CodeRequest, CodeRequested, VerificationIn, VotingPassOut
from shared.messaging.events import utcnow
from shared.web.problems import Problem, problem_responses
from shared.web.ratelimit import client_address, enforce
from shared.ops.runtime import SessionDep


@asynccontextmanager
async def _lifespan(app: FastAPI):
    yield
    found = getattr(app.state, "verification", None)
    if found is not None:
        found.close()


router = APIRouter(prefix="/v1/public-polls", tags=["public online vote"], lifespan=_lifespan)


@router.post("/{poll_id}/verification-codes", status_code=status.HTTP_202_ACCEPTED, response_model=CodeRequested,
             summary="Send a one-time code by SMS (202 whether or not the number has voted)",
             responses=problem_responses(404, 409, 422, 429, 503))
def request_code(poll_id: str, data: CodeRequest, request: Request, response: Response,
                 session: SessionDep) -> CodeRequested:
    """A citizen's phone asks for a one-time code by SMS to prove a mobile number before voting (step 1 of 3). The answer
    is the same 202 whether or not the number has voted, so it tells nothing about anyone. No credential; limited per
    client address, by a resend cooldown and a day's count per phone. Causes no event. Refusals: `poll-not-open`
    (409), `verification-method-off` (409, SMS not configured), `verification-locked` (429, too many wrong codes),
    `code-resend-too-soon` (429), `daily-code-limit` (429), `rate-limited` (429), `sms-unavailable` (503, nothing
    counted against the phone), `not-found` (404)."""
    enforce(request, response, "verification_code_ip", client_address(request))
    v = service.verification(request.app)
    resend = service.request_code(session, v, poll_id, data.phone, utcnow())
    return CodeRequested(poll_id=poll_id, expires_in_seconds=v.settings.verification_code_ttl_seconds,
                         resend_after_seconds=resend)


@router.post("/{poll_id}/verifications", status_code=status.HTTP_201_CREATED, response_model=VotingPassOut,
             summary="Prove a verified identity (SMS code or government ID token) for a voting pass",
             responses=problem_responses(401, 404, 409, 422, 429, 503))
def verify(poll_id: str, data: VerificationIn, request: Request, response: Response, session: SessionDep) -> VotingPassOut:
    """A citizen's phone proves an identity (step 2 of 3): the SMS code with its phone, or an ID token of the provincial
    government-service login. The answer is a voting pass for this poll, used once with the vote before `expires_at`.
    No credential; limited per client address. Causes no event. Refusals: `wrong-code` (401, with tries left),
    `code-expired` (401), `id-token-refused` (401), `verification-locked` (429), `poll-not-open` (409),
    `verification-method-off` (409), `inconsistent-request` (422, both or neither method),
    `identity-platform-unavailable` (503), `rate-limited` (429), `not-found` (404)."""
    enforce(request, response, "verification_ip", client_address(request))
    v = service.verification(request.app)
    now = utcnow()
    if data.id_token is not None:
        if v.oidc is None:
            raise service.method_off("oidc")
        service.open_poll(session, poll_id, now)
        try:
            identity = service.token_identity(v.oidc.verify(data.id_token))
        except IdTokenRefused as refused:
            raise Problem(401, "id-token-refused", "ID token refused 身份令牌无效", refused.detail,
                          reason=refused.reason) from None
        except IdentityPlatformUnavailable:
            raise Problem(503, "identity-platform-unavailable", "Identity platform unavailable 统一身份认证平台暂不可用",
                          "the identity platform's keys could not be fetched; try again shortly",
                          headers={"Retry-After": "5"}) from None
    else:
        identity = service.check_code(session, v, poll_id, data.phone, data.code, now)
    token, expires_at = v.issue_pass(poll_id, identity, now)
    return VotingPassOut(pass_=token, expires_at=expires_at)
