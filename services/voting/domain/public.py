"""Public online vote rules: whose vote it is (identity hashing), per-voter option order. Pure."""

from __future__ import annotations

import hashlib
import hmac
import random
from collections.abc import Sequence


def phone_identity(e164: str) -> str:
    """The identity a verified mainland mobile stands for (already normalised to E.164)."""
    return e164


def oidc_identity(issuer: str, subject: str) -> str:
    """The identity an ID token of the government identity platform stands for: issuer + sub."""
    return f"oidc:{issuer}#{subject}"


def identity_hash(key: str, identity: str) -> str:
    """A keyed hash (HMAC-SHA256) of a normalised verified identity; the identity itself is never kept."""
    return hmac.new(key.encode("utf-8"), identity.encode("utf-8"), hashlib.sha256).hexdigest()


def option_order(options: Sequence[str], *, poll_id: str, voter_hash: str) -> list[str]:
    """The options shuffled for one voter: stable for that voter, different across voters."""
    seed = hashlib.sha256(f"{poll_id}:{voter_hash}".encode()).digest()
    shuffled = list(options)
    random.Random(seed).shuffle(shuffled)
    return shuffled
