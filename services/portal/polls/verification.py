"""How a public voter proves who they are: the one place that knows.

Voting either offers the SMS verification flow (POST …/verification-codes
{"phone"} → 202, POST …/verifications {"phone","code"} → 201 {"pass"}, then
ballot papers and votes carry {"pass"}), or, before that flow exists, takes
the verified identity itself ({"identity"}). The portal probes the route once
per poll: 405 on a GET means the POST route exists; 404 means it does not.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from services.portal.upstream import Upstream, UpstreamProblem

PROBE_SECONDS = 60.0
_offered: dict[str, tuple[float, bool]] = {}


async def sms_verification_offered(voting: Upstream, poll_id: str) -> bool:
    known = _offered.get(poll_id)
    if known and known[0] > time.monotonic():
        return known[1]
    try:
        await voting.send("GET", f"/v1/public-polls/{poll_id}/verification-codes")
        offered = True
    except UpstreamProblem as exc:
        offered = exc.status == 405
    _offered[poll_id] = (time.monotonic() + PROBE_SECONDS, offered)
    return offered


@dataclass(frozen=True)
class VoterCredential:
    """What the voter holds after the identity step, kept in a short-lived cookie."""

    kind: str  # "pass" (SMS verification) or "identity" (before it)
    value: str

    def body(self) -> dict:
        return {self.kind: self.value}

    def cookie(self) -> str:
        return f"{self.kind}:{self.value}"

    @classmethod
    def from_cookie(cls, raw: str | None) -> VoterCredential | None:
        kind, _, value = (raw or "").partition(":")
        return cls(kind, value) if kind in ("pass", "identity") and value else None


async def request_code(voting: Upstream, poll_id: str, phone: str, headers: dict) -> None:
    await voting.send("POST", f"/v1/public-polls/{poll_id}/verification-codes", json={"phone": phone}, headers=headers)


async def verify_code(voting: Upstream, poll_id: str, phone: str, code: str, headers: dict) -> VoterCredential:
    answer = await voting.send("POST", f"/v1/public-polls/{poll_id}/verifications", json={"phone": phone, "code": code},
                               headers=headers)
    return VoterCredential("pass", answer["pass"])


def identity_credential(identity: str) -> VoterCredential:
    return VoterCredential("identity", identity)
