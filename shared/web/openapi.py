"""The OpenAPI each service publishes lists every response an endpoint can give.

Routes declare their own refusals with `problem_responses(...)`; what every
route of a kind can answer is added here once, as problem+json: 422
(validation); 401/403 on routes that need a credential; 429 where limits
apply; 404 where a path names something (a path holding a control character
names nothing); 400 (a body that is not UTF-8 JSON) where a body is taken;
413 (`body-too-large`, naming the route's cap) and 503 (the database is
unavailable) everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from shared.web.problems import problem_responses

_METHODS = ("get", "put", "post", "patch", "delete")


_DESCRIPTIONS = {
    400: "The body could not be read as UTF-8 JSON (bad-request)",
    413: "The body is over this route's cap of {limit} bytes (body-too-large, with max_bytes)",
    503: "A dependency (the database) is unavailable; retry after Retry-After seconds (service-unavailable)",
}


def _with_problem_responses(schema: dict[str, Any], body_limit: Callable[[str], int] | None = None) -> dict[str, Any]:
    for path, item in schema.get("paths", {}).items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            wanted: list[int] = []
            parameters = operation.get("parameters") or []
            if "422" in responses or parameters or operation.get("requestBody"):
                wanted.append(422)
            if operation.get("security"):
                wanted += [401, 403, 429]
            elif path.startswith("/v1/"):
                wanted.append(429)
            if any(p.get("in") == "path" for p in parameters) and "404" not in responses:
                wanted.append(404)
            if method in ("post", "put", "patch"):
                wanted.append(400)
            wanted += [413, 503]
            for status, response in problem_responses(*wanted).items():
                # FastAPI's default 422 says application/json; ours are problem+json.
                if status in _DESCRIPTIONS:
                    limit = body_limit(path) if body_limit is not None else "a configured number of"
                    response = {**response, "description": _DESCRIPTIONS[status].format(limit=limit)}
                if status == 503:
                    response["headers"] = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}
                responses[str(status)] = response
    schema.get("components", {}).get("schemas", {}).pop("HTTPValidationError", None)
    schema.get("components", {}).get("schemas", {}).pop("ValidationError", None)
    return schema


def install_openapi(app: FastAPI, body_limit: Callable[[str], int] | None = None) -> None:
    """`body_limit(path template)`: the route's body cap, for its 413."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _with_problem_responses(get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes,
            ), body_limit)
        return app.openapi_schema

    app.openapi = openapi
