"""Voting passes: short-lived, bound to one poll and one verified identity, sealed.

A pass is AES-256-GCM over {poll, voter hash, expiry} with a random nonce: it
cannot be forged or altered without the key (authenticated: the "signature"),
and it shows nothing, not even the voter's keyed hash, to whoever holds it.
Checking one needs no database. Single use comes from what a pass is bound to:
the database keeps one vote per (poll, identity), so twenty uses of one pass at
once record one vote and answer the rest `identity-already-voted`.

The key is derived (HKDF) from VOTING_IDENTITY_HASH_KEY, so every replica opens
every replica's passes and there is no further secret to deploy.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shared.web.problems import Problem

_PREFIX = "vp1."
_AAD = b"pingyi public-vote pass v1"
_NONCE = 12


@dataclass(frozen=True)
class VotingPass:
    poll_id: str
    voter_hash: str
    expires_at: dt.datetime


class PassRefused(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class PassSealer:
    def __init__(self, secret: str) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"pingyi public-vote pass key").derive(
            secret.encode("utf-8"))
        self._aead = AESGCM(key)

    def issue(self, poll_id: str, voter_hash: str, *, now: dt.datetime, ttl_seconds: float) -> tuple[str, dt.datetime]:
        expires_at = (now + dt.timedelta(seconds=ttl_seconds)).replace(microsecond=0)
        body = json.dumps({"p": poll_id, "h": voter_hash, "e": int(expires_at.timestamp())}, separators=(",", ":"))
        nonce = os.urandom(_NONCE)
        return _PREFIX + _b64encode(nonce + self._aead.encrypt(nonce, body.encode(), _AAD)), expires_at

    def open(self, token: str, *, poll_id: str, now: dt.datetime) -> VotingPass:
        """The pass, if it is genuine, unexpired and for this poll; else PassRefused naming why."""
        if not token.startswith(_PREFIX):
            raise PassRefused("invalid", "not a voting pass")
        try:
            raw = _b64decode(token[len(_PREFIX):])
            body = json.loads(self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], _AAD))
            sealed = VotingPass(body["p"], body["h"], dt.datetime.fromtimestamp(body["e"], dt.UTC))
        except (InvalidTag, ValueError, binascii.Error, KeyError, TypeError):
            raise PassRefused("invalid", "the voting pass is not genuine or was altered") from None
        if sealed.poll_id != poll_id:
            raise PassRefused("other-poll", "the voting pass was issued for another poll")
        if now >= sealed.expires_at:
            raise PassRefused("expired", f"the voting pass expired at {sealed.expires_at.isoformat()}; verify again")
        return sealed


def verification_required(reason: str, detail: str) -> Problem:
    return Problem(401, "verification-required", "Verification required 请先完成身份验证",
                   f"{detail}: verify by SMS code or the government identity platform "
                   "(POST /v1/public-polls/{poll_id}/verifications) for a voting pass", reason=reason)
