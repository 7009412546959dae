"""The AsyncAPI document: committed as generated from shared/messaging/events.py, valid by
the AsyncAPI Initiative's own parser, describing the envelopes the services
really send, and served in parts by the services that produce them."""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from fastapi.testclient import TestClient

from shared.messaging.asyncapi import asyncapi_document, asyncapi_yaml
from shared.messaging.events import (
    PAYLOADS,
    BallotClosed,
    BallotSubject,
    RereportScheduled,
    SatisfactionScore,
    ScoreComputed,
    Tally,
    VoteMarkedUnsatisfied,
)

from shared.db import Database
from tests.conftest import create_app_for, settings_for

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "docs" / "asyncapi.yaml"
VALIDATOR = REPO / "tools" / "asyncapi" / "validate.mjs"
IN_CI = os.environ.get("CI") == "true"

DAY = dt.date(2021, 8, 26)
EXAMPLES = [
    (BallotClosed(ballot_id="b1", ballot_kind="satisfaction", meeting_id="m44", meeting_number="第四十四次会议",
                  meeting_date=DAY, subject=BallotSubject(department="淄博市教育局", evaluation_year=2021),
                  tally=Tally(counts={"unsatisfied": 2}, votes_cast=2, present=3, members_total=3),
                  closed_at=dt.datetime(2021, 8, 26, 3, tzinfo=dt.UTC)), "voting", "淄博市教育局"),
    (ScoreComputed(computation_id="c1", kind="satisfaction", satisfaction=SatisfactionScore(
        ballot_id="b1", department="淄博市教育局", evaluation_year=2021, vote_round=1, meeting_id="m44",
        meeting_date=DAY, grade="unsatisfied", grade_label="不满意", counts={"unsatisfied": 2}, denominator=3,
        denominator_basis="all_members")), "scoring", "淄博市教育局"),
    (VoteMarkedUnsatisfied(department="淄博市教育局", evaluation_year=2021, unsatisfied_round=1, vote_round=1,
                           ballot_id="b1", meeting_id="m44", meeting_date=DAY), "scoring", "淄博市教育局"),
    (RereportScheduled(case_id="k1", department="淄博市教育局", evaluation_year=2021, vote_round=2,
                       after_meeting_id="m44", after_meeting_date=DAY), "tracking", "淄博市教育局"),
]


def test_the_committed_document_is_what_the_models_generate():
    assert COMMITTED.read_text(encoding="utf-8") == asyncapi_yaml(), (
        "docs/asyncapi.yaml no longer matches shared/messaging/events.py: run `pingyi asyncapi > docs/asyncapi.yaml`")


def test_the_document_covers_every_topic_with_its_envelope_key_headers_and_version():
    document = yaml.safe_load(COMMITTED.read_text(encoding="utf-8"))
    assert document["asyncapi"].startswith("3.")
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == set(PAYLOADS)
    for message in document["components"]["messages"].values():
        topic = message["name"]
        envelope = document["components"]["schemas"][f"{PAYLOADS[topic].__name__}Envelope"]
        assert envelope["properties"]["type"]["const"] == topic
        assert envelope["properties"]["version"]["const"] == PAYLOADS[topic].version
        assert message["bindings"]["kafka"]["key"]["description"]
        assert set(message["headers"]["required"]) == {"event_id", "event_type"}


def _validator(document: dict, topic: str) -> jsonschema.Draft202012Validator:
    # The document is the registry, so its #/components/schemas/… references resolve.
    resource = Resource(contents=document, specification=DRAFT202012)
    registry = Registry().with_resource("urn:pingyi:events", resource)
    schema = {"$ref": f"urn:pingyi:events#/components/schemas/{PAYLOADS[topic].__name__}Envelope"}
    return jsonschema.Draft202012Validator(schema, registry=registry, format_checker=jsonschema.FormatChecker())


@pytest.mark.parametrize(("payload", "producer", "key"), EXAMPLES, ids=[p.topic.value for p, _, _ in EXAMPLES])
def test_an_envelope_the_services_send_is_valid_by_the_document(payload, producer, key):
    document = asyncapi_document()
    envelope = json.loads(payload.envelope(producer=producer, key=key).to_bytes())
    validator = _validator(document, payload.topic.value)
    validator.validate(envelope)
    # And the document bites: a wrong type, a wrong version, a payload field removed.
    for broken in ({"type": "ballot.opened"}, {"version": 99}, {"payload": {}}):
        assert not validator.is_valid({**envelope, **broken}), broken


def _asyncapi_parser(path: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None or not (VALIDATOR.parent / "node_modules" / "@asyncapi" / "parser").is_dir():
        reason = "the AsyncAPI parser is not installed (make tools: npm ci --prefix tools/asyncapi)"
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: make test must install it)")
        pytest.skip(reason)
    return subprocess.run([node, str(VALIDATOR), str(path)], capture_output=True, text=True, timeout=120)


def test_the_asyncapi_parser_accepts_the_document():
    result = _asyncapi_parser(COMMITTED)
    assert result.returncode == 0, result.stdout + result.stderr
    diagnostics = json.loads(result.stdout)
    # 0 error, 1 warning; 2 and 3 are hints (such as "3.1.0 exists").
    assert [d for d in diagnostics if d["severity"] <= 1] == []


def test_the_asyncapi_parser_refuses_a_broken_document(tmp_path):
    document = copy.deepcopy(asyncapi_document())
    document["channels"]["ballotClosed"]["messages"]["BallotClosedV1"]["$ref"] = "#/components/messages/Nothing"
    del document["operations"][next(iter(document["operations"]))]["action"]
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    result = _asyncapi_parser(broken)
    assert result.returncode == 1
    assert any(d["severity"] == 0 for d in json.loads(result.stdout))


@pytest.mark.parametrize("service", ["voting", "scoring", "tracking"])
def test_each_service_serves_the_part_it_produces(service, tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'unused.db'}")
    app = create_app_for(service, settings_for(service, db.url), db)
    resp = TestClient(app).get("/asyncapi.json")  # no credential needed
    assert resp.status_code == 200
    served = resp.json()
    assert served == json.loads(json.dumps(asyncapi_document(service)))
    produced = {channel["address"] for channel in served["channels"].values()}
    assert produced == {"voting": {"ballot.closed"}, "scoring": {"score.computed", "vote.marked_unsatisfied"},
                        "tracking": {"rereport.scheduled"}}[service]
    assert {op["action"] for op in served["operations"].values()} == {"send"}
