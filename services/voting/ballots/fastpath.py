"""The common cast, straight to the cast writer: 60 members press together.

A plain ASGI middleware inside the request-context one (request ids, metrics,
access log), in front of routing. It takes a `POST /v1/ballots/{id}/votes` only
in its ordinary, well-formed shape: a member token (valid, with `voting:cast`)
for the member named in a body that parses as `VoteCast`, and no
Idempotency-Key. It then does what the route does for such a request, with the
same shared functions: the credential rate limit, the cast handed to the
process's cast writer (`casting.CastWriter`, which makes every check that needs
the database and writes the audit entry), and the same answer: 201 with the
receipt, or the writer's refusal as problem+json.

Anything else (an API key, no or a bad credential, another member, a body the
model refuses, an Idempotency-Key, a large body) goes on, body and all, to the
FastAPI route, which answers it as always. So this path never refuses a request
the route would accept, and every refusal of its own comes from the same code.

Why: on this two-core machine FastAPI's routing, dependency solving (two of the
shared security dependencies run in the thread pool) and response validation
cost more than the cast itself.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time

import structlog
from pydantic import ValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.voting.ballots.casting import CastIn
from services.voting.ballots.schemas import VoteCast
from shared.security.credentials import KEY_PREFIX, Principal, authenticate_member_token
from shared.web.problems import PROBLEM_MEDIA_TYPE, Problem
from shared.web.ratelimit import enforce

ROUTE = "/v1/ballots/{ballot_id}/votes"
_PATH = re.compile(r"/v1/ballots/(?P<ballot_id>[^/]{1,100})/votes")
MAX_BODY = 64 * 1024
TOKEN_CACHE_SIZE = 10_000


def _json_headers(media_type: str, body: bytes, extra: dict[str, str] | None) -> list[tuple[bytes, bytes]]:
    headers = [(b"content-type", media_type.encode()), (b"content-length", str(len(body)).encode())]
    return headers + [(k.lower().encode(), v.encode()) for k, v in (extra or {}).items()]


class CastFastPath:
    def __init__(self, app: ASGIApp, *, writer, wait_seconds: float) -> None:
        self.app = app
        self.writer = writer  # callable: FastAPI app -> CastWriter
        self.wait_seconds = wait_seconds
        # A member's device sends the same token for every vote of the sitting: its
        # signature is checked once, then the token is known until its `exp`.
        self._tokens: dict[str, tuple[Principal, float]] = {}

    def _principal(self, secret: str, token: str) -> Principal:
        known = self._tokens.get(token)
        if known is not None:
            if time.time() < known[1]:
                return known[0]
            del self._tokens[token]
        principal = authenticate_member_token(secret, token)  # 401 Problem when bad or expired
        if len(self._tokens) >= TOKEN_CACHE_SIZE:
            self._tokens.clear()
        self._tokens[token] = (principal, _expiry(token))
        return principal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or (match := _PATH.fullmatch(scope["path"])) is None:
            await self.app(scope, receive, send)
            return
        token = authorization = None
        for name, value in scope["headers"]:
            if name == b"authorization" and authorization is None:  # the first, as the route reads it
                authorization = value.decode("latin-1")
                scheme, _, credential = authorization.partition(" ")
                if scheme.lower() == "bearer" and credential.strip() and not credential.strip().startswith(KEY_PREFIX + "_"):
                    token = credential.strip()
            elif name == b"idempotency-key" or (name == b"content-type" and not value.startswith(b"application/json")):
                token = None
                break
        else:
            if token is not None:
                body, complete = await read_body(receive)
                if complete and await self._cast(scope, send, match["ballot_id"], token, body):
                    return
                receive = replay(body, complete, receive)
        await self.app(scope, receive, send)

    async def _cast(self, scope: Scope, send: Send, ballot_id: str, token: str, body: bytes) -> bool:
        """Answer the cast here, or return False to leave it to the route."""
        app = scope["app"]
        try:
            principal = self._principal(app.state.settings.auth_token_secret, token)
            data = VoteCast.model_validate_json(body)
        except (Problem, ValidationError):
            return False
        if not principal.has("voting:cast") or principal.member_id != data.member_id:
            return False
        state = scope.setdefault("state", {})
        state["principal"], state["principal_name"] = principal, principal.name
        scope["pingyi.route"] = ROUTE
        with structlog.contextvars.bound_contextvars(principal=principal.name):
            try:
                verdict = enforce(Request(scope), None, "credential", principal.name)
                cast = CastIn(ballot_id=ballot_id, data=data, principal_name=principal.name,
                              token_member_id=principal.member_id, token_meeting_id=principal.meeting_id,
                              request_id=state.get("request_id"))
                pending = self.writer(app).submit(cast)
                try:
                    async with asyncio.timeout(self.wait_seconds):
                        recorded = await asyncio.shield(pending)
                except TimeoutError:
                    raise Problem(503, "vote-outcome-unknown", "Vote pending 投票结果未知",
                                  f"the vote was not confirmed within {self.wait_seconds:g} s; it may still be recorded: "
                                  "a retry answers already-voted if it was", headers={"Retry-After": "1"}) from None
            except Problem as problem:
                await respond(send, problem.status, problem.body(scope["path"]), PROBLEM_MEDIA_TYPE, problem.headers)
                return True
        await respond(send, 201, {"ballot_id": ballot_id, "receipt_code": recorded.receipt_code}, "application/json",
                       verdict.headers())
        return True


async def read_body(receive: Receive) -> tuple[bytes, bool]:
    """The body, and whether it is all there (not when too large, or the client left)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True
        if size > MAX_BODY:  # not an ordinary request: replayed to the route (shared.web.http.RequestLimits caps it)
            return b"".join(chunks), False


async def respond(send: Send, status: int, content: dict, media_type: str, headers: dict[str, str] | None) -> None:
    body = json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()
    await send({"type": "http.response.start", "status": status, "headers": _json_headers(media_type, body, headers)})
    await send({"type": "http.response.body", "body": body})


def _expiry(token: str) -> float:
    """The `exp` of a token whose signature has just been verified."""
    payload = token.split(".")[1]
    return float(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"])


def replay(body: bytes, complete: bool, receive: Receive) -> Receive:
    """The body already read, then whatever the client sends next."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": not complete}
        return await receive()

    return replayed
