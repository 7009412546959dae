"""RFC 9457 problem details for every error the services return.

A refusal raises `Problem` (or a subclass) with a stable `type` slug that
integrators can switch on; titles carry English and Chinese.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError as SQLAlchemyOperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "urn:pingyi:problem:"


class Problem(Exception):
    """An error answered as problem+json; nothing has been changed when raised."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or title)
        self.headers = headers
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.extensions = extensions

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_TYPE_BASE + self.slug,
            "title": self.title,
            "status": self.status,
        }
        if self.detail:
            body["detail"] = self.detail
        if instance:
            body["instance"] = instance
        body.update(jsonable_encoder(self.extensions))
        return body


def not_found(what: str, identifier: object) -> Problem:
    return Problem(404, "not-found", "Not found 未找到", f"{what} {identifier} does not exist", resource=what)


def database_unavailable() -> Problem:
    """The database is down, restarting or out of connections: nothing was committed, a retry is safe."""
    return Problem(503, "service-unavailable", "Service unavailable 服务暂不可用", "the database is unavailable; retry shortly",
                   headers={"Retry-After": "5"})


def problem_response(problem: Problem, request: Request | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    instance = request.url.path if request is not None else None
    return JSONResponse(problem.body(instance), status_code=problem.status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        errors.append({"location": loc, "field": ".".join(loc[1:]) or loc[0] if loc else "", "message": err.get("msg"), "code": err.get("type")})
    return errors


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc, request, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        if any(e["code"] == "json_invalid" for e in errors):
            problem = Problem(422, "malformed-json", "Malformed JSON 请求体不是有效的JSON", "the request body is not valid JSON", errors=errors)
        elif all(e["code"] == "value_error" and e["location"] == ["body"] for e in errors):
            # Each field is well formed but together they break a rule (a model validator).
            detail = "; ".join(str(e["message"]).removeprefix("Value error, ") for e in errors)
            problem = Problem(422, "inconsistent-request", "Inconsistent request 请求字段相互矛盾", detail, errors=errors)
        else:
            fields = ", ".join(e["field"] for e in errors if e["field"])
            problem = Problem(422, "validation-error", "Invalid request 请求参数无效", f"invalid fields: {fields}" if fields else "the request is invalid", errors=errors)
        return problem_response(problem, request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        try:
            phrase = HTTPStatus(exc.status_code).phrase
        except ValueError:
            phrase = "Error"
        slug = phrase.lower().replace(" ", "-").replace("'", "")
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else None
        return problem_response(Problem(exc.status_code, slug, phrase, detail), request, headers=getattr(exc, "headers", None))

    @app.exception_handler(SQLAlchemyOperationalError)
    @app.exception_handler(SQLAlchemyTimeoutError)
    async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # The database is down, restarting or out of connections: the client may retry; nothing was committed.
        import structlog

        structlog.get_logger(__name__).warning("database_unavailable", path=request.url.path, error=exc.__class__.__name__)
        problem = database_unavailable()
        return problem_response(problem, request, headers=problem.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        import structlog

        structlog.get_logger(__name__).exception("unhandled_error", path=request.url.path)
        return problem_response(Problem(500, "internal-error", "Internal error 内部错误", "an unexpected error occurred; it has been logged"), request)


# OpenAPI description of a problem response, for `responses=` on routes.
PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
    "additionalProperties": True,
}


_RATE_LIMIT_HEADERS = {
    name: {"description": description, "schema": {"type": "integer"}}
    for name, description in (
        ("Retry-After", "seconds to wait"),
        ("X-RateLimit-Limit", "requests allowed in the window"),
        ("X-RateLimit-Remaining", "requests left in the window"),
        ("X-RateLimit-Reset", "seconds until a request is allowed again"),
    )
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        responses[status] = {
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_SCHEMA}},
        }
        if status == 429:
            responses[status]["headers"] = _RATE_LIMIT_HEADERS
    return responses
