"""The public vote's three steps, straight to their route functions: a city's phones
press together when the vote opens.

A plain ASGI middleware beside the cast's (`services/voting/ballots/fastpath.py`),
inside the request-context and request-limit middlewares (ids, metrics, logs and
the body cap as for any request), in front of routing. It takes

    POST /v1/public-polls/{poll_id}/verification-codes   {"phone"}
    POST /v1/public-polls/{poll_id}/verifications        {"phone", "code"}
    POST /v1/public-polls/{poll_id}/votes                {"pass", "choices"}

only in their ordinary shape (a JSON body the route's model accepts; for a
verification, the SMS code rather than an ID token) and calls the very route
function FastAPI would (`verification.endpoints.request_code`, `.verify`,
`public.endpoints.cast_vote`), answering its Response or its Problem as the
app's handlers do. Anything else (a body the model refuses, another content
type, a body that did not arrive whole, an ID token) goes on, body and all, to
FastAPI, which answers it as always: this path never answers a request
differently from the route.

Why: on this two-core machine FastAPI's routing, dependency solving and body
handling were about half the event loop's CPU for a complete flow, the one
thread every request of the process shares.
"""

from __future__ import annotations

import re

import structlog
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError, TimeoutError as PoolTimeout
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from services.voting.ballots.fastpath import read_body, replay, respond
from services.voting.public.endpoints import cast_vote
from services.voting.public.schemas import PublicVoteCast
from services.voting.verification.endpoints import request_code, verify
from services.voting.verification.schemas import CodeRequest, VerificationIn
from shared.web.problems import PROBLEM_MEDIA_TYPE, Problem, database_unavailable

log = structlog.get_logger(__name__)

_PATH = re.compile(r"/v1/public-polls/(?P<poll_id>[^/]{1,200})/(?P<step>verification-codes|verifications|votes)")
# step → (the route's body model, the route function, the route's template)
STEPS = {
    "verification-codes": (CodeRequest, request_code, "/v1/public-polls/{poll_id}/verification-codes"),
    "verifications": (VerificationIn, verify, "/v1/public-polls/{poll_id}/verifications"),
    "votes": (PublicVoteCast, cast_vote, "/v1/public-polls/{poll_id}/votes"),
}


class PublicVoteFastPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or (match := _PATH.fullmatch(scope["path"])) is None:
            await self.app(scope, receive, send)
            return
        json_body = False
        for name, value in scope["headers"]:
            if name == b"content-type":
                json_body = value.split(b";", 1)[0].strip().lower() == b"application/json"
                break
        if json_body:
            body, complete = await read_body(receive)
            if complete and await self._answer(scope, receive, send, match["poll_id"], match["step"], body):
                return
            receive = replay(body, complete, receive)
        await self.app(scope, receive, send)

    @staticmethod
    async def _answer(scope: Scope, receive: Receive, send: Send, poll_id: str, step: str, body: bytes) -> bool:
        """Answer the step here, or return False to leave it to the route."""
        model, route, template = STEPS[step]
        try:
            data = model.model_validate_json(body)
        except ValidationError:
            return False  # the route's own 422, naming the field
        if step == "verifications" and data.id_token is not None:
            return False  # the identity platform's keys may need fetching: the route's thread pool
        scope["pingyi.route"] = template
        try:
            response = await route(poll_id, data, Request(scope, receive))
        except Problem as problem:
            await respond(send, problem.status, problem.body(scope["path"]), PROBLEM_MEDIA_TYPE, problem.headers)
            return True
        except (OperationalError, PoolTimeout) as exc:  # as the app's handler answers it
            log.warning("database_unavailable", path=scope["path"], error=exc.__class__.__name__)
            problem = database_unavailable()
            await respond(send, problem.status, problem.body(scope["path"]), PROBLEM_MEDIA_TYPE, problem.headers)
            return True
        await response(scope, receive, send)
        return True
