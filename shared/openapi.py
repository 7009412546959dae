"""The OpenAPI each service publishes lists every response an endpoint can give.

Routes declare their own refusals with `problem_responses(...)`; what every
route of a kind can answer is added here once: 422 (validation) as
problem+json, 401/403 on routes that need a credential, 429 where limits apply.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from shared.problems import problem_responses

_METHODS = ("get", "put", "post", "patch", "delete")


def _with_problem_responses(schema: dict[str, Any]) -> dict[str, Any]:
    for path, item in schema.get("paths", {}).items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            wanted: list[int] = []
            if "422" in responses or operation.get("parameters") or operation.get("requestBody"):
                wanted.append(422)
            if operation.get("security"):
                wanted += [401, 403, 429]
            elif path.startswith("/v1/"):
                wanted.append(429)
            for status, response in problem_responses(*wanted).items():
                # FastAPI's default 422 says application/json; ours are problem+json.
                responses[str(status)] = response
    schema.get("components", {}).get("schemas", {}).pop("HTTPValidationError", None)
    schema.get("components", {}).get("schemas", {}).pop("ValidationError", None)
    return schema


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _with_problem_responses(get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes,
            ))
        return app.openapi_schema

    app.openapi = openapi
