"""The public vote's fast path (services/voting/public/fastpath.py) answers the three steps in
their ordinary shape with the route functions themselves, and leaves everything else to
FastAPI: a refused body, another content type, an ID token. Both answer alike."""

from __future__ import annotations

import pytest

from services.voting.public import fastpath

from ._support import assert_problem
from .test_verification import PHONE, create_poll, outbox, request_code, sms, verified_pass, verify, vote  # noqa: F401 (fixtures)


@pytest.fixture
def answered(monkeypatch) -> list[tuple[str, bool]]:
    """(step, answered by the fast path) for each request the fast path looked at."""
    seen: list[tuple[str, bool]] = []
    real = fastpath.PublicVoteFastPath._answer

    async def spy(scope, receive, send, poll_id, step, body):
        took = await real(scope, receive, send, poll_id, step, body)
        seen.append((step, took))
        return took

    monkeypatch.setattr(fastpath.PublicVoteFastPath, "_answer", staticmethod(spy))
    return seen


def test_the_ordinary_flow_is_answered_by_the_fast_path(sms, outbox, answered):
    poll = create_poll(sms.client)
    client = sms.anonymous
    token = verified_pass(client, outbox, poll["id"])
    resp = vote(client, poll["id"], token)
    assert resp.status_code == 201, resp.text
    assert resp.json() == {"poll_id": poll["id"], "accepted": True}
    assert answered == [("verification-codes", True), ("verifications", True), ("votes", True)]
    # Refusals from the route functions come out of the fast path as problem+json, with their headers.
    again = assert_problem(request_code(client, poll["id"]), 429, "code-resend-too-soon")
    assert again["retry_after"] > 0 and answered[-1] == ("verification-codes", True)
    assert_problem(vote(client, poll["id"], token), 409, "identity-already-voted")
    assert_problem(vote(client, poll["id"], "vp1.forged"), 401, "verification-required")
    assert answered[-2:] == [("votes", True), ("votes", True)]


def test_what_the_fast_path_leaves_to_the_route(sms, outbox, answered):
    poll = create_poll(sms.client)
    client = sms.anonymous
    # A body the model refuses: the route's 422 names the field.
    body = assert_problem(request_code(client, poll["id"], "139-0000-222x"), 422, "validation-error")
    assert "phone" in body["detail"]
    assert answered[-1] == ("verification-codes", False)
    # Malformed JSON.
    resp = client.post(f"/v1/public-polls/{poll['id']}/verifications", content=b'{"phone": ',
                       headers={"Content-Type": "application/json"})
    assert_problem(resp, 422, "malformed-json")
    # An ID token goes to the route (OIDC is off here).
    assert_problem(verify(client, poll["id"], {"id_token": "aaaaaaaaaa.bbbbbbbbbb.cccccccccc"}), 409,
                   "verification-method-off")
    assert answered[-1] == ("verifications", False)
    # Another content type never reaches the fast path; the route answers as it always did.
    looked = len(answered)
    resp = client.post(f"/v1/public-polls/{poll['id']}/verification-codes", content=f'{{"phone": "{PHONE}"}}',
                       headers={"Content-Type": "text/plain"})
    assert resp.status_code == 422 and len(answered) == looked
