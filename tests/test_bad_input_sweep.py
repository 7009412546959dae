"""Issue 13: each class of bad input, sent to every POST, PUT and PATCH of the
three services and to the public GETs, on SQLite and Postgres. Every one is a
4xx problem+json (a 422 naming the field for a bad field), never a 500; and a
re-read of every table shows nothing changed.

The bodies are built from each operation's own OpenAPI: one well-formed value
per field, then one field at a time made bad. A new route is swept the day it
is added."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator

from sqlalchemy import func, select

PROBLEM = "application/problem+json"
NAME_MARK = "\\u202a"  # what the JSON Schema of a name (and only of a name) refuses


def _resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    if "anyOf" in schema:  # `X | None`: the non-null branch
        return _resolve(spec, next(s for s in schema["anyOf"] if s.get("type") != "null"))
    return schema


def example(spec: dict, schema: dict, salt: int = 0):
    """One value the schema allows."""
    schema = _resolve(spec, schema)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if kind == "object":
        if "properties" in schema:
            return {name: example(spec, sub, i) for i, (name, sub) in enumerate(schema["properties"].items())}
        return {}
    if kind == "array":
        return [example(spec, schema["items"], i) for i in range(schema.get("minItems", 0))]
    if kind == "string":
        if schema.get("format") == "date":
            return "2021-02-26"
        if schema.get("format") == "date-time":
            return "2021-02-26T09:00:00+08:00"
        return ("甲" * max(1, schema.get("minLength", 1))) + str(salt) if schema.get("maxLength", 9) > 1 else "甲"
    if kind == "integer":
        return max(schema.get("minimum", 1), 1)
    if kind == "number":
        return max(schema.get("minimum", 1), 1)
    if kind == "boolean":
        return False
    return None


def _bad_values(schema: dict) -> Iterator[tuple[str, object]]:
    kind = schema.get("type")
    if kind == "string" and schema.get("format") == "date":
        yield from (("year 1", "0001-01-01"), ("year 9999", "9999-12-31"), ("number", 0.5), ("integer", 20210226))
    elif kind == "string" and schema.get("format") == "date-time":
        yield from (("year 1", "0001-01-01T00:00:00+14:00"), ("no offset", "2021-02-26T09:00:00"), ("number", 12345))
    elif kind == "string" and "pattern" in schema:
        yield from (("NUL", "甲\x00乙"), ("ANSI", "甲\x1b[31m乙"), ("C1", "甲\x85乙"), ("surrogate", "甲\ud800"),
                    ("too long", "甲" * (schema["maxLength"] + 1)), ("number", 1))
        if NAME_MARK in schema["pattern"]:
            yield from (("RTL override", "甲\u202e乙"), ("zero-width", "甲\u200b乙"), ("blank", "   "))
    elif kind == "integer":
        yield from (("boolean", True), ("string", "2021"), ("fraction", 1.5))
    elif kind == "number":
        yield from (("string", "1.5"), ("boolean", True))
    elif kind == "array" and schema.get("maxItems", 10**6) <= 5000:
        yield "too many", "TOO_MANY"


def mutations(spec: dict, schema: dict, value, path: tuple = ()) -> Iterator[tuple[tuple, str, object]]:
    """(field path, class, bad value) for every field of `value`."""
    schema = _resolve(spec, schema)
    for what, bad in _bad_values(schema):
        if bad == "TOO_MANY":
            item = value[0] if value else example(spec, schema["items"])
            bad = [copy.deepcopy(item) for _ in range(schema["maxItems"] + 1)]
        yield path, what, bad
    if schema.get("type") == "object" and isinstance(value, dict):
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                yield from mutations(spec, sub, value[name], (*path, name))
    elif schema.get("type") == "array" and value:
        yield from mutations(spec, schema["items"], value[0], (*path, 0))


def _set(body, path: tuple, bad):
    if not path:
        return bad
    body = copy.deepcopy(body)
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = bad
    return body


# The public vote's ballot-paper and vote bodies are being reworked (issue 12): a 4xx is what
# is asserted there for now; every other body refuses a bad field itself, 422 naming it.
VOTE_BODIES = ("/v1/public-polls/x/votes", "/v1/public-polls/x/ballot-papers", "/v1/public-polls/x/verif")


def row_counts(h) -> dict[str, int]:
    with h.db.session() as session:
        return {table.name: session.scalar(select(func.count()).select_from(table))
                for table in h.models.Base.metadata.sorted_tables}


def _operations(h) -> Iterator[tuple[str, str, dict, dict]]:
    spec = h.app.openapi()
    for path, item in spec["paths"].items():
        for method in ("post", "put", "patch"):
            operation = item.get(method)
            body = (operation or {}).get("requestBody", {}).get("content", {}).get("application/json")
            if body is None:
                continue
            concrete = path
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    schema = _resolve(spec, parameter["schema"])
                    value = schema.get("enum", ["x"])[0] if schema.get("type") == "string" else "1"
                    concrete = concrete.replace("{" + parameter["name"] + "}", str(value))
            yield method.upper(), concrete, spec, body["schema"]


def _send(h, method: str, path: str, body) -> object:
    # ensure_ascii: a lone surrogate travels as the JSON escape \ud800, as a client would send it.
    return h.client.request(method, path, content=json.dumps(body), headers={"content-type": "application/json"})


def sweep_writes(h) -> None:
    before, sent = row_counts(h), 0
    for method, path, spec, schema in _operations(h):
        valid = example(spec, schema)
        for field, what, bad in mutations(spec, schema, valid):
            r = _send(h, method, path, _set(valid, field, bad))
            sent += 1
            label = (method, path, ".".join(map(str, field)), what)
            assert 400 <= r.status_code < 500 and r.headers["content-type"] == PROBLEM, (label, r.status_code, r.text[:300])
            if path.startswith(VOTE_BODIES):
                continue
            assert r.status_code == 422, (label, r.status_code, r.text[:300])
            problem = r.json()
            assert problem["type"] == "urn:pingyi:problem:validation-error", (label, problem)
            assert ".".join(map(str, field)) in {e["field"] for e in problem["errors"]}, (label, problem["errors"])
        # Bodies no JSON parser should take: not UTF-8, not JSON, not an object.
        for raw in (b'{"a": "\xff\xfe"}', b"{", b"[]", b"null", b'"\x00"'):
            r = h.client.request(method, path, content=raw, headers={"content-type": "application/json"})
            sent += 1
            assert 400 <= r.status_code < 500 and r.headers["content-type"] == PROBLEM, (method, path, raw, r.text)
    assert sent > 100
    assert row_counts(h) == before  # the audit log included: no refused request committed anything


PUBLIC_GETS = {
    "tracking": ["/v1/public/cases/{}", "/v1/public/cases/{}/status", "/v1/public/cases/{}/timeline"],
    "voting": ["/v1/public-polls/{}", "/v1/public-polls/{}/turnout"],
}
BAD_SEGMENTS = ["a%00b", "a%1Bb", "a%C2%85b", "a%E2%80%AEb", "a%E2%80%8Bb", "%ED%A0%80", "x" * 5000]


def sweep_public_gets(h) -> None:
    service = h.name
    before = row_counts(h)
    for template in PUBLIC_GETS[service]:
        for segment in BAD_SEGMENTS:
            r = h.anonymous.get(template.format(segment))
            assert r.status_code == 404 and r.headers["content-type"] == PROBLEM, (template, segment, r.text)
    if service == "tracking":
        for value in ("a%00b", "a%1Bb", "a%C2%85b", "a%E2%80%AEb", "a%E2%80%8Bb", "%20%20", "x" * 300):
            r = h.anonymous.get(f"/v1/public/cases?department={value}")
            assert r.status_code == 422 and r.headers["content-type"] == PROBLEM, (value, r.text)
            assert r.json()["errors"][0]["field"] == "department"
        for query in ("limit=true", "limit=0", "limit=101", "evaluation_year=9999", "cursor=%00"):
            r = h.anonymous.get(f"/v1/public/cases?{query}")
            assert r.status_code == 422 and r.headers["content-type"] == PROBLEM, (query, r.text)
    assert row_counts(h) == before


def test_every_bad_field_of_every_voting_write_is_a_422_naming_it_and_changes_nothing(voting):
    sweep_writes(voting)


def test_every_bad_field_of_every_scoring_write_is_a_422_naming_it_and_changes_nothing(scoring):
    sweep_writes(scoring)


def test_every_bad_field_of_every_tracking_write_is_a_422_naming_it_and_changes_nothing(tracking):
    sweep_writes(tracking)


def test_bad_paths_and_queries_on_the_public_vote_are_4xx(voting):
    sweep_public_gets(voting)


def test_bad_paths_and_queries_on_public_disclosure_are_4xx(tracking):
    sweep_public_gets(tracking)
