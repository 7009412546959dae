"""Each service against its own OpenAPI with schemathesis: every operation,
every check (including that endpoints needing credentials refuse requests
without them), as the service's operator, on a real migrated database,
SQLite and Postgres.

One pytest case per operation, so a failure names the route."""

from __future__ import annotations

from importlib import import_module

import pytest
import schemathesis
from hypothesis import given, settings

from tests.contract import CONTRACT_SETTINGS, EXCLUDED, EXAMPLES, schema_valid_requests_pass_validation


def _operations(service: str) -> list[tuple[str, str]]:
    """(method, path) of every operation, read from the app's OpenAPI without a database."""
    settings = import_module(f"services.{service}.settings")
    cls = getattr(settings, f"{service.capitalize()}Settings")
    app = import_module(f"services.{service}.app").create_app(
        cls(database_url="sqlite://", run_relay=False, run_consumer=False, log_json=False)
    )
    return [(method.upper(), path) for path, item in app.openapi()["paths"].items() for method in item
            if method in ("get", "post", "put", "patch", "delete") and path not in NOT_CONTRACT_TESTED]


# The readiness probe answers 503 by design while a test holds the SQLite write
# lock; tests/test_operations.py covers it.
NOT_CONTRACT_TESTED = {"/healthz/ready"}


def _run(harness, method: str, path: str) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", harness.app)
    operation = schema[path][method]
    authorization = harness.client.headers["Authorization"]

    @settings(CONTRACT_SETTINGS, max_examples=EXAMPLES[harness.backend])
    @given(case=operation.as_strategy())
    def check(case):
        case.call_and_validate(
            headers={"Authorization": authorization},
            excluded_checks=EXCLUDED,
            additional_checks=[schema_valid_requests_pass_validation],
        )

    check()


def _ids(operations):
    return [f"{m} {p}" for m, p in operations]


VOTING = _operations("voting")
SCORING = _operations("scoring")
TRACKING = _operations("tracking")


# Every operation on both databases: what one accepts the other may refuse with a 500
# (Postgres refuses NUL in text; SQLite takes it). Fewer examples on Postgres keep the
# suite's time (tests/contract.py EXAMPLES).


@pytest.mark.parametrize(("method", "path"), VOTING, ids=_ids(VOTING))
def test_voting_api_keeps_its_contract(voting, method, path):
    _run(voting, method, path)


@pytest.mark.parametrize(("method", "path"), SCORING, ids=_ids(SCORING))
def test_scoring_api_keeps_its_contract(scoring, method, path):
    _run(scoring, method, path)


@pytest.mark.parametrize(("method", "path"), TRACKING, ids=_ids(TRACKING))
def test_tracking_api_keeps_its_contract(tracking, method, path):
    _run(tracking, method, path)


def test_the_contract_check_catches_a_route_that_ignores_its_credential():
    """The check above is not vacuous: a route that declares a credential in its
    OpenAPI but answers without one fails it."""
    from fastapi import Depends, FastAPI
    from schemathesis.core.failures import FailureGroup

    from shared.security.access import bearer

    app = FastAPI()

    @app.get("/v1/leaky", dependencies=[Depends(bearer)])
    def leaky() -> dict:
        return {"secret": "anyone may read this"}

    operation = schemathesis.openapi.from_asgi("/openapi.json", app)["/v1/leaky"]["GET"]

    @CONTRACT_SETTINGS
    @given(case=operation.as_strategy())
    def check(case):
        case.call_and_validate(headers={"Authorization": "Bearer pyk_x_y"}, excluded_checks=EXCLUDED)

    with pytest.raises(FailureGroup, match="(?i)auth"):
        check()
