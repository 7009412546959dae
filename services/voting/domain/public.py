"""Public online vote rules: identity hashing, per-voter option order. Pure."""

from __future__ import annotations

import hashlib
import hmac
import random
from collections.abc import Sequence


def identity_hash(key: str, identity: str) -> str:
    """A keyed hash (HMAC-SHA256) of a verified identity; the identity itself is never kept."""
    normalised = "".join(identity.split()).upper()
    return hmac.new(key.encode("utf-8"), normalised.encode("utf-8"), hashlib.sha256).hexdigest()


def option_order(options: Sequence[str], *, poll_id: str, voter_hash: str) -> list[str]:
    """The options shuffled for one voter: stable for that voter, different across voters."""
    seed = hashlib.sha256(f"{poll_id}:{voter_hash}".encode()).digest()
    shuffled = list(options)
    random.Random(seed).shuffle(shuffled)
    return shuffled
