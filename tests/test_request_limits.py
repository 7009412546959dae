"""Issue 13: what every request is checked for before a route sees it: body
caps (Content-Length and chunked, at the exact boundary), control characters
in paths and query strings, OPTIONS; and the strict text, date and JSON types
of request bodies."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.conftest import create_app_for, settings_for

CAP = 1024 * 1024


def meeting_body(size: int) -> bytes:
    """A valid meeting, padded with JSON whitespace to exactly `size` bytes."""
    body = json.dumps({"number": "第四十四次会议", "held_on": "2021-02-26",
                       "members": [{"member_id": "m01", "name": "委员01"}]}, ensure_ascii=False).encode()
    assert len(body) <= size
    return body[:-1] + b" " * (size - len(body)) + b"}"


def meetings(h) -> int:
    return len(h.client.get("/v1/meetings?limit=100").json()["items"])


def assert_too_large(resp, cap: int) -> None:
    assert resp.status_code == 413, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    problem = resp.json()
    assert problem["type"] == "urn:pingyi:problem:body-too-large"
    assert problem["max_bytes"] == cap and str(cap) in problem["detail"]


def test_a_body_of_exactly_the_cap_is_taken_and_one_byte_more_is_413_unread(voting):
    headers = {"content-type": "application/json"}
    assert voting.client.post("/v1/meetings", content=meeting_body(CAP), headers=headers).status_code == 201
    before = meetings(voting)
    assert_too_large(voting.client.post("/v1/meetings", content=meeting_body(CAP + 1), headers=headers), CAP)
    assert meetings(voting) == before


async def _stream(app, path: str, chunks: list[bytes], headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes, int]:
    """POST a chunked body (no Content-Length) straight through ASGI, as uvicorn hands it over:
    answers status, body, and how many chunks the app read."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"),
                         (b"transfer-encoding", b"chunked"), *headers],
             "client": ("127.0.0.1", 50000), "server": ("testserver", 80)}
    pending, read = list(chunks), 0
    messages: list[dict] = []

    async def receive():
        nonlocal read
        if pending:
            read += 1
            chunk = pending.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(pending)}
        await asyncio.sleep(3600)  # the client has sent everything; a real server waits for the next request

    async def send(message):
        messages.append(message)

    await asyncio.wait_for(app(scope, receive, send), timeout=120)
    status = next(m["status"] for m in messages if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body"), read


def _chunks(body: bytes, size: int = 64 * 1024) -> list[bytes]:
    return [body[i:i + size] for i in range(0, len(body), size)]


def test_a_chunked_body_is_cut_off_the_moment_it_passes_the_cap(voting):
    auth = [(b"authorization", voting.client.headers["Authorization"].encode())]
    status, _, _ = asyncio.run(_stream(voting.app, "/v1/meetings", _chunks(meeting_body(CAP)), auth))
    assert status == 201
    before = meetings(voting)
    over = _chunks(meeting_body(CAP + 1)) + [b" " * 1024] * 50  # and the client keeps sending
    status, body, read = asyncio.run(_stream(voting.app, "/v1/meetings", over, auth))
    assert status == 413
    problem = json.loads(body)
    assert problem["type"] == "urn:pingyi:problem:body-too-large" and problem["max_bytes"] == CAP
    assert read == len(_chunks(meeting_body(CAP + 1)))  # nothing read past the chunk that crossed the cap
    assert meetings(voting) == before


def test_the_hotline_import_has_its_own_cap(scoring):
    app = create_app_for("scoring", settings_for("scoring", scoring.db.url, hotline_import_max_bytes=4096), scoring.db)
    from fastapi.testclient import TestClient

    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers.update(scoring.client.headers)
        header = "工单编号,受理时间,承办单位,诉求类型,办结状态,群众满意度\n".encode()
        exact = header + b"#" * (4096 - len(header))
        r = client.post("/v1/hotline/work-order-imports", content=exact, headers={"content-type": "text/csv"})
        assert r.status_code != 413, r.text
        assert_too_large(client.post("/v1/hotline/work-order-imports", content=exact + b"#",
                                     headers={"content-type": "text/csv"}), 4096)
        # The ordinary 1 MiB cap is not the import's: a 2 MiB file is taken by the default settings.
    big = header + b"\n" * (2 * CAP)
    assert scoring.client.post("/v1/hotline/work-order-imports", content=big,
                               headers={"content-type": "text/csv"}).status_code != 413


def test_a_progress_report_with_attachments_has_its_own_cap(tracking):
    app = create_app_for("tracking", settings_for("tracking", tracking.db.url, progress_body_max_bytes=2048), tracking.db)
    from fastapi.testclient import TestClient

    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers.update(tracking.client.headers)
        r = client.post("/v1/commitments/nope/progress", content=b"{" + b" " * 2048 + b"}",
                        headers={"content-type": "application/json"})
        assert_too_large(r, 2048)
    spec = tracking.app.openapi()["paths"]
    assert str(32 * CAP) in spec["/v1/commitments/{commitment_id}/progress"]["post"]["responses"]["413"]["description"]
    assert str(CAP) in spec["/v1/cases"]["post"]["responses"]["413"]["description"]


@pytest.mark.parametrize("path", ["/v1/public/cases/a%00b", "/v1/public/cases/a%00b/status",
                                  "/v1/public/cases/a%01b/timeline", "/v1/cases/%C2%85"])
def test_a_control_character_in_a_path_is_404(tracking, path):
    r = tracking.anonymous.get(path)
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"] == "urn:pingyi:problem:not-found"
    # The connection stays usable: the next request is answered as usual.
    assert tracking.anonymous.get("/v1/public/cases").status_code == 200


def test_a_control_character_in_a_query_is_422_naming_it(tracking):
    r = tracking.anonymous.get("/v1/public/cases?department=a%00b")
    assert r.status_code == 422
    problem = r.json()
    assert problem["type"] == "urn:pingyi:problem:validation-error"
    assert problem["errors"][0]["field"] == "department"


def test_nul_in_the_public_vote_paths_is_404(voting):
    for method, path in (("GET", "/v1/public-polls/a%00b"), ("GET", "/v1/public-polls/a%00b/turnout"),
                         ("POST", "/v1/public-polls/a%00b/votes")):
        r = voting.anonymous.request(method, path, json={})
        assert r.status_code == 404, (path, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")


def test_options_lists_every_method_of_the_path(voting):
    r = voting.client.options("/v1/meetings")
    assert r.status_code == 204
    assert r.headers["allow"] == "GET, POST, OPTIONS"
    assert voting.client.options("/v1/nothing-here").status_code in (404, 405)


# --- strict types in request bodies --------------------------------------------------


def _meeting(**fields) -> dict:
    return {"number": "第四十四次会议", "held_on": "2021-02-26", "members": [{"member_id": "m01", "name": "委员01"}]} | fields


@pytest.mark.parametrize(("fields", "field", "code"), [
    ({"held_on": "0001-01-01"}, "held_on", "date_form"),
    ({"held_on": "9999-12-31"}, "held_on", "date_form"),
    ({"held_on": 0.5}, "held_on", "date_type"),
    ({"held_on": 20210226}, "held_on", "date_type"),
    ({"number": "   "}, "number", "text_blank"),
    ({"number": "第\u202e次会议"}, "number", "text_invisible_character"),
    ({"number": "第\u200b次会议"}, "number", "text_invisible_character"),
    ({"number": "第\x1b[31m次"}, "number", "text_control_character"),
    ({"place": "淄\x00博"}, "place", "text_control_character"),
    ({"place": "\ud800"}, "place", "text_surrogate"),
    ({"members": [{"member_id": "m01", "name": "委员\x00"}]}, "members.0.name", "text_control_character"),
])
def test_bad_text_and_dates_are_422_naming_the_field(voting, fields, field, code):
    before = meetings(voting)
    # JSON's escapes (ensure_ascii): a lone surrogate can only be sent as \ud800.
    r = voting.client.post("/v1/meetings", content=json.dumps(_meeting(**fields)), headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["type"] == "urn:pingyi:problem:validation-error"
    assert [(e["field"], e["code"]) for e in problem["errors"]] == [(field, code)]
    assert meetings(voting) == before


def test_text_is_stored_nfc_and_names_trimmed(voting):
    r = voting.client.post("/v1/meetings", json=_meeting(number="  第四十四次会议 ", place="Cafe\u0301"))
    assert r.status_code == 201, r.text
    assert r.json()["number"] == "第四十四次会议" and r.json()["place"] == "Caf\u00e9"


@pytest.mark.parametrize("value", [True, "2021", 2021.5])
def test_an_integer_is_a_json_integer(voting, value):
    meeting = voting.client.post("/v1/meetings", json=_meeting()).json()
    r = voting.client.post(f"/v1/meetings/{meeting['id']}/ballots",
                           json={"department": "市住房和城乡建设局", "evaluation_year": value})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "evaluation_year"


def test_a_json_number_without_a_fraction_is_an_integer(voting):
    """JSON has one number type: 2021.0 is 2021, as JSON Schema's "integer" says."""
    meeting = voting.client.post("/v1/meetings", json=_meeting()).json()
    r = voting.client.post(f"/v1/meetings/{meeting['id']}/ballots",
                           json={"department": "市住房和城乡建设局", "evaluation_year": 2021.0})
    assert r.status_code == 201, r.text
    assert r.json()["evaluation_year"] == 2021


@pytest.mark.parametrize(("opens_at", "code"), [
    ("0001-01-01T00:00:00+14:00", "datetime_form"),
    ("2026-05-01T09:00:00", "datetime_form"),  # no offset
    (12345, "datetime_type"),
])
def test_times_carry_an_offset_and_lie_in_range(voting, opens_at, code):
    meeting = voting.client.post("/v1/meetings", json=_meeting()).json()
    r = voting.client.post("/v1/public-polls", json={
        "meeting_id": meeting["id"], "evaluation_year": 2026, "options": ["甲局", "乙局"], "max_choices": 1,
        "opens_at": opens_at, "closes_at": "2026-05-02T09:00:00+08:00"})
    assert r.status_code == 422, r.text
    assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [("opens_at", code)]


def test_the_edge_dates_of_the_range_are_taken(tracking):
    for selection_date in ("1949-10-01", "2100-12-31"):
        r = tracking.client.post("/v1/cases", json={"department": f"局{selection_date}", "evaluation_year": 2100,
                                                    "selection_date": selection_date})
        assert r.status_code == 201, r.text
    r = tracking.client.post("/v1/cases", json={"department": "局", "evaluation_year": 2021, "selection_date": "9999-12-31"})
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "date_form"


def test_the_cast_fast_path_is_behind_the_same_cap(voting):
    """A member's cast skips routing (ballots/fastpath.py), not the body cap."""
    token = voting.member_token("m01", "mtg-1")
    body = b'{"member_id": "m01", "choice": "satisfied"' + b" " * CAP + b"}"
    r = voting.client.post("/v1/ballots/b1/votes", content=body, headers={**token, "content-type": "application/json"})
    assert_too_large(r, CAP)


def test_a_database_that_is_down_is_503_with_retry_after():
    from fastapi.testclient import TestClient

    from shared.security.credentials import issue_member_token, member_scopes
    from shared.db import Database

    url = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"  # nothing listens on port 1
    settings = settings_for("voting", url)
    app = create_app_for("voting", settings, Database(url))
    token = issue_member_token(settings.auth_token_secret, member_id="m01", meeting_id="mtg-1", scopes=member_scopes())
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/v1/meetings", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 503, r.text
    assert r.json()["type"] == "urn:pingyi:problem:service-unavailable" and r.headers["retry-after"]
    assert "503" in app.openapi()["paths"]["/v1/meetings"]["get"]["responses"]


def test_a_member_token_issued_before_voting_read_still_reads_its_meeting(voting):
    from shared.security.credentials import issue_member_token

    meeting = voting.client.post("/v1/meetings", json=_meeting()).json()
    old = issue_member_token(voting.app.state.settings.auth_token_secret, member_id="m01", meeting_id=meeting["id"],
                             scopes=["read", "voting:cast"])
    assert voting.client.get(f"/v1/meetings/{meeting['id']}", headers={"Authorization": f"Bearer {old}"}).status_code == 200
