"""How a public voter proves who they are: the one place that knows.

Voting's SMS verification flow: POST …/verification-codes {"phone"} → 202,
POST …/verifications {"phone","code"} → 201 {"pass"}; ballot papers and votes
then carry {"pass"}. The pass is single-use and short-lived, so the portal
keeps it only in a cookie for as long as a vote takes.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.portal.upstream import Upstream


@dataclass(frozen=True)
class VoterCredential:
    """The voting pass the voter holds after the identity step."""

    value: str

    def body(self) -> dict:
        return {"pass": self.value}

    def cookie(self) -> str:
        return self.value

    @classmethod
    def from_cookie(cls, raw: str | None) -> VoterCredential | None:
        return cls(raw) if raw else None


async def request_code(voting: Upstream, poll_id: str, phone: str, headers: dict) -> None:
    await voting.send("POST", f"/v1/public-polls/{poll_id}/verification-codes", json={"phone": phone}, headers=headers)


async def verify_code(voting: Upstream, poll_id: str, phone: str, code: str, headers: dict) -> VoterCredential:
    answer = await voting.send("POST", f"/v1/public-polls/{poll_id}/verifications", json={"phone": phone, "code": code},
                               headers=headers)
    return VoterCredential(answer["pass"])
