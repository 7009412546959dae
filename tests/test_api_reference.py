"""The API reference a stranger can work from: each service's OpenAPI, as it
serves it at /openapi.json, describes every operation (who calls it, what it
changes, which events follow, its refusals), gives every request body an
example, describes every schema property, and every example is one the
service takes: valid against the published JSON Schema and against the
Pydantic model the endpoint validates with.

Each test names everything that is missing, not only the first."""

from __future__ import annotations

import json
from functools import cache
from importlib import import_module
from typing import Any

import jsonschema
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel

SERVICES = ("voting", "scoring", "tracking")
METHODS = ("get", "put", "post", "patch", "delete")


@cache
def app_of(service: str) -> FastAPI:
    settings = import_module(f"services.{service}.settings")
    cls = getattr(settings, f"{service.capitalize()}Settings")
    return import_module(f"services.{service}.app").create_app(
        cls(database_url="sqlite://", run_relay=False, run_consumer=False, log_json=False)
    )


def spec_of(service: str) -> dict[str, Any]:
    return app_of(service).openapi()


def operations(spec: dict[str, Any]):
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                yield f"{method.upper()} {path}", item[method]


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def undescribed_operations(spec: dict[str, Any]) -> list[str]:
    return [name for name, operation in operations(spec) if not (operation.get("description") or "").strip()]


def bodies_without_example(spec: dict[str, Any]) -> list[str]:
    missing = []
    for name, operation in operations(spec):
        for media_type, content in operation.get("requestBody", {}).get("content", {}).items():
            schema = resolve(spec, content.get("schema", {}))
            if not (content.get("example") or content.get("examples") or schema.get("examples")):
                missing.append(f"{name} ({media_type})")
    return missing


def undescribed_properties(spec: dict[str, Any]) -> list[str]:
    return [f"{schema_name}.{prop}"
            for schema_name, schema in spec["components"]["schemas"].items()
            for prop, definition in schema.get("properties", {}).items()
            if not (definition.get("description") or "").strip()]


def examples_invalid_by_schema(spec: dict[str, Any]) -> list[str]:
    """Every example in components/schemas, checked against that schema as published."""
    invalid = []
    for schema_name, schema in spec["components"]["schemas"].items():
        for i, example in enumerate(schema.get("examples", [])):
            standalone = {**schema, "components": spec["components"]}
            validator = jsonschema.Draft202012Validator(standalone, format_checker=jsonschema.FormatChecker())
            for error in validator.iter_errors(example):
                path = ".".join(str(p) for p in error.absolute_path) or "(root)"
                invalid.append(f"{schema_name} example {i}: {path}: {error.message}")
    return invalid


def body_models(app: FastAPI) -> dict[str, type[BaseModel]]:
    models = {}
    for route in app.routes:
        if isinstance(route, APIRoute) and route.body_field is not None:
            model = route.body_field.field_info.annotation
            if isinstance(model, type) and issubclass(model, BaseModel):
                for method in route.methods:
                    models[f"{method} {route.path}"] = model
    return models


def examples_refused_by_model(app: FastAPI) -> list[str]:
    """Every request-body example, parsed from JSON and validated by the model the endpoint uses."""
    refused = []
    for name, model in body_models(app).items():
        for i, example in enumerate(model.model_json_schema().get("examples", [])):
            try:
                model.model_validate(json.loads(json.dumps(example, ensure_ascii=False)))
            except Exception as error:  # noqa: BLE001 - the message names the field
                refused.append(f"{name} {model.__name__} example {i}: {error}")
    return refused


def _report(service: str, what: str, missing: list[str]) -> str:
    return f"{service}: {len(missing)} {what}:\n  " + "\n  ".join(missing)


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_has_a_description(service):
    missing = undescribed_operations(spec_of(service))
    assert not missing, _report(service, "operations without a description", missing)


@pytest.mark.parametrize("service", SERVICES)
def test_every_request_body_has_an_example(service):
    missing = bodies_without_example(spec_of(service))
    assert not missing, _report(service, "request bodies without an example", missing)


@pytest.mark.parametrize("service", SERVICES)
def test_every_schema_property_has_a_description(service):
    missing = undescribed_properties(spec_of(service))
    assert not missing, _report(service, "schema properties without a description", missing)


@pytest.mark.parametrize("service", SERVICES)
def test_every_example_is_valid_by_its_published_schema(service):
    invalid = examples_invalid_by_schema(spec_of(service))
    assert not invalid, _report(service, "examples the published schema refuses", invalid)


@pytest.mark.parametrize("service", SERVICES)
def test_every_body_example_is_taken_by_the_endpoint_model(service):
    refused = examples_refused_by_model(app_of(service))
    assert not refused, _report(service, "examples the endpoint's model refuses", refused)


def test_the_checks_see_what_is_missing():
    """The checks themselves: a bare operation, body and field are named; a wrong example is caught."""
    spec = {
        "paths": {"/v1/things": {"post": {
            "summary": "Make a thing",
            "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ThingCreate"}}}},
        }}},
        "components": {"schemas": {"ThingCreate": {
            "type": "object", "required": ["name"],
            "properties": {"name": {"type": "string", "maxLength": 3}, "size": {"type": "integer", "description": "cm"}},
        }}},
    }
    assert undescribed_operations(spec) == ["POST /v1/things"]
    assert bodies_without_example(spec) == ["POST /v1/things (application/json)"]
    assert undescribed_properties(spec) == ["ThingCreate.name"]
    spec["components"]["schemas"]["ThingCreate"]["examples"] = [{"name": "淄博市教育局", "size": "big"}]
    assert bodies_without_example(spec) == []
    assert len(examples_invalid_by_schema(spec)) == 2


if __name__ == "__main__":  # counts, for the report: python -m tests.test_api_reference
    for service in SERVICES:
        spec = spec_of(service)
        ops = list(operations(spec))
        bodies = [n for n, o in ops if o.get("requestBody")]
        props = [(s, p) for s, d in spec["components"]["schemas"].items() for p in d.get("properties", {})]
        print(f"{service}: operations {len(ops) - len(undescribed_operations(spec))}/{len(ops)} described; "
              f"bodies {len(bodies) - len(bodies_without_example(spec))}/{len(bodies)} with an example; "
              f"properties {len(props) - len(undescribed_properties(spec))}/{len(props)} described; "
              f"invalid examples {len(examples_invalid_by_schema(spec))} (schema), "
              f"{len(examples_refused_by_model(app_of(service)))} (model)")


# The examples taken by the endpoints themselves, in the order a year uses them (the
# client of the harness holds the service's admin key). Bodies that need ids the
# service hands out (a ballot's question ids, a case's commitments) are left to the
# model check above.

def example(model: type[BaseModel], index: int = 0) -> dict[str, Any]:
    return model.model_json_schema()["examples"][index]


def test_voting_takes_its_examples(voting):
    from services.voting.ballots.schemas import BallotVoid, ResolutionBallotCreate, SatisfactionBallotCreate
    from services.voting.meetings.schemas import AgendaItemCreate, AttendanceChange, MeetingCreate, MemberTokenCreate, NonVotingAttendance
    from services.voting.selection.schemas import SelectionBallotCreate

    client = voting.client
    meeting = client.post("/v1/meetings", json=example(MeetingCreate))
    assert meeting.status_code == 201, meeting.text
    m = meeting.json()["id"]
    for path, model, status in ((f"/v1/meetings/{m}/agenda", AgendaItemCreate, 201),
                                (f"/v1/meetings/{m}/check-ins", AttendanceChange, 200),
                                (f"/v1/meetings/{m}/member-tokens", MemberTokenCreate, 200),
                                (f"/v1/meetings/{m}/nonvoting-attendees", NonVotingAttendance, 200),
                                (f"/v1/meetings/{m}/ballots", SatisfactionBallotCreate, 201),
                                (f"/v1/meetings/{m}/resolution-ballots", ResolutionBallotCreate, 201),
                                (f"/v1/meetings/{m}/selection-ballots", SelectionBallotCreate, 201)):
        answer = client.post(path, json=example(model))
        assert answer.status_code == status, (path, answer.text)
    ballot = client.post(f"/v1/meetings/{m}/ballots", json=example(SatisfactionBallotCreate)).json()["id"]
    voided = client.post(f"/v1/ballots/{ballot}/void", json=example(BallotVoid))
    assert voided.status_code == 200 and voided.json()["status"] == "void", voided.text


def test_scoring_takes_its_examples(scoring):
    from services.scoring.composite.schemas import SourceFiguresSubmit
    from services.scoring.hotline.schemas import AliasCreate
    from services.scoring.plans.schemas import YearPlanCreate, YearPlanUpdate

    client = scoring.client
    plan = client.post("/v1/year-plans", json=example(YearPlanCreate))
    assert plan.status_code == 201, plan.text
    plan_id = plan.json()["id"]
    updated = client.patch(f"/v1/year-plans/{plan_id}", json=example(YearPlanUpdate))
    assert updated.status_code == 200 and updated.json()["weights"]["net_complaints"] == 40, updated.text
    alias = client.post("/v1/hotline/department-aliases", json=example(AliasCreate))
    assert alias.status_code == 201, alias.text
    figures = client.put(f"/v1/year-plans/{plan_id}/batches/1/sources/working_committees", json=example(SourceFiguresSubmit))
    assert figures.status_code == 200, figures.text


def test_tracking_takes_its_examples(tracking):
    from services.tracking.audits.schemas import AuditCaseCreate, AuditFindingCreate
    from services.tracking.cases.schemas import CaseCreate, CasePlanUpdate
    from services.tracking.commitments.schemas import CommitmentComplete, CommitmentCreate, ProgressCreate
    from services.tracking.motions.schemas import MotionCreate
    from services.tracking.review.schemas import InquiryQuestionCreate, WorkReportCreate

    client = tracking.client
    case = client.post("/v1/cases", json=example(CaseCreate))
    assert case.status_code == 201, case.text
    c = case.json()["id"]
    assert client.patch(f"/v1/cases/{c}", json=example(CasePlanUpdate)).status_code == 200
    commitment = client.post(f"/v1/cases/{c}/commitments", json=example(CommitmentCreate))
    assert commitment.status_code == 201, commitment.text
    k = commitment.json()["id"]
    for path, model in ((f"/v1/commitments/{k}/progress", ProgressCreate), (f"/v1/cases/{c}/work-reports", WorkReportCreate),
                        (f"/v1/cases/{c}/inquiry-questions", InquiryQuestionCreate), ("/v1/motions", MotionCreate)):
        answer = client.post(path, json=example(model))
        assert answer.status_code == 201, (path, answer.text)
    done = client.post(f"/v1/commitments/{k}/complete", json=example(CommitmentComplete))
    assert done.status_code == 200 and done.json()["status"] == "done", done.text
    audit = client.post("/v1/audit-cases", json=example(AuditCaseCreate))
    assert audit.status_code == 201, audit.text
    finding = client.post(f"/v1/audit-cases/{audit.json()['id']}/findings", json=example(AuditFindingCreate))
    assert finding.status_code == 201, finding.text
