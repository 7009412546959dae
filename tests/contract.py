"""Schemathesis against a service's own OpenAPI: every operation, every check.

One change to the stock checks: `positive_data_acceptance` counts any 422 on
schema-valid data as a failure, but a business rule (weights summing to 100,
an empty roster) can refuse a well-formed request. Our refusals name their
rule in `type`, so the replacement check fails only when the request was
refused as *malformed* (`validation-error`, `malformed-json`): the schema
promised more than the endpoint accepts.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks
from schemathesis.checks import CheckContext
from schemathesis.core.failures import Failure

from shared.problems import PROBLEM_TYPE_BASE

MALFORMED = {PROBLEM_TYPE_BASE + "validation-error", PROBLEM_TYPE_BASE + "malformed-json"}

CONTRACT_SETTINGS = settings(
    max_examples=12,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


class SchemaValidRequestRefusedAsMalformed(Failure):
    pass


@schemathesis.check
def schema_valid_requests_pass_validation(ctx: CheckContext, response, case) -> bool | None:
    """A request the schema allows is never refused as malformed."""

    if case.meta is None or not case.meta.generation.mode.is_positive:
        return None
    if response.status_code == 422:
        try:
            problem_type = response.json().get("type")
        except Exception:
            problem_type = None
        if problem_type in MALFORMED:
            raise SchemaValidRequestRefusedAsMalformed(
                operation=case.operation.label,
                title="Schema-valid request refused as malformed",
                message=f"{response.status_code}: {response.text[:500]}",
            )
    return None


EXCLUDED = [checks.positive_data_acceptance]
