"""Issue 13, least-privilege reads in scoring: every credential kind against
every read route. Scoring's figures are read with a scoring scope (or the
staff's `read`); a member token (voting's) or another service's key reads nothing."""

from __future__ import annotations

import re

from tests.scoring.test_scoring_api_security import assert_problem


def _reads(app) -> list[str]:
    return [path for path, item in app.openapi()["paths"].items()
            if "get" in item and item["get"].get("security")
            and not path.startswith(("/v1/admin/", "/v1/webhooks"))]  # admin only: tests/test_webhooks.py


def test_every_credential_kind_against_every_read_route(scoring):
    plan = scoring.client.post("/v1/year-plans", json={"evaluation_year": 2022, "departments": ["淄博市教育局"]})
    assert plan.status_code == 201, plan.text
    values = {"plan_id": plan.json()["id"], "batch": "1", "ballot_id": "no-such-ballot"}
    paths = [re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], p) for p in _reads(scoring.app)]
    assert len(paths) >= 10
    allowed = {
        "staff": {}, "reader": scoring.api_key("read"), "scoring reader": scoring.api_key("scoring:read"),
        "12345 platform": scoring.api_key("scoring:import"), "source office": scoring.api_key("scoring:write"),
    }
    refused = {
        "member": scoring.member_token("m01", "mtg-1"),
        "department": scoring.api_key("tracking:write", department="淄博市教育局"),
        "voting's key": scoring.api_key("voting:admin"),
    }
    for path in paths:
        for kind, headers in allowed.items():
            r = scoring.client.get(path, headers=headers)
            assert r.status_code in (200, 404), (kind, path, r.text)  # 404: no such ballot's result
        for kind, headers in refused.items():
            problem = assert_problem(scoring.client.get(path, headers=headers), 403, "missing-scope")
            assert problem["required_scope"] == "scoring:read", (kind, path)
        assert scoring.anonymous.get(path).status_code == 401, path
