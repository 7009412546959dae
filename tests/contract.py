"""Schemathesis against a service's own OpenAPI: every operation, every check.

One change to the stock checks: `positive_data_acceptance` counts any 422 on
schema-valid data as a failure, but a business rule (weights summing to 100,
an empty roster) can refuse a well-formed request. Our refusals name their
rule in `type`, so the replacement check fails only when the request was
refused as *malformed* (`validation-error`, `malformed-json`): the schema
promised more than the endpoint accepts.
"""

from __future__ import annotations

import datetime as dt

import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import checks
from schemathesis.checks import CheckContext
from schemathesis.core.failures import Failure

from shared.web.problems import PROBLEM_TYPE_BASE
from shared.web.text import DATE_MAX, DATE_MIN

MALFORMED = {PROBLEM_TYPE_BASE + "validation-error", PROBLEM_TYPE_BASE + "malformed-json"}

# Examples per operation and database: SQLite runs more; Postgres catches what SQLite lets
# through (NUL in text, out-of-range dates and numbers).
EXAMPLES = {"sqlite": 10, "postgres": 5}

CONTRACT_SETTINGS = settings(
    max_examples=12,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


# The API's dates and times lie in DATE_MIN..DATE_MAX (shared.web.text; the schema's
# `pattern` says so). Generated from that range, its edges and leap days first,
# rather than from all of 0001..9999 and then filtered by the pattern.
_EDGE_DATES = [DATE_MIN, DATE_MAX, dt.date(2000, 2, 29), dt.date(2100, 2, 28), dt.date(1949, 12, 31)]
_dates = st.one_of(st.sampled_from(_EDGE_DATES), st.dates(DATE_MIN, DATE_MAX))
_offsets = st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=8)), dt.timezone(dt.timedelta(hours=14)),
                            dt.timezone(dt.timedelta(hours=-12)), dt.timezone(dt.timedelta(hours=5, minutes=45))])
_times = st.one_of(st.sampled_from([dt.time(0, 0), dt.time(23, 59, 59, 999999)]), st.times())
schemathesis.openapi.format("date", _dates.map(dt.date.isoformat))
schemathesis.openapi.format("date-time", st.builds(
    lambda day, time, offset: dt.datetime.combine(day, time, offset).isoformat(), _dates, _times, _offsets))


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
