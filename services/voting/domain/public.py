"""Public online vote rules: identity hashing, per-voter option order, rate windows. Pure."""

from __future__ import annotations

import hashlib
import hmac
import random
import threading
import time
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


class FixedWindowLimiter:
    """At most `limit` hits per key per `window` seconds, in this process."""

    def __init__(self, limit: int, window: float = 60.0, clock=time.monotonic) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._hits: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> float | None:
        """Count a hit; None if allowed, else seconds until the window resets."""
        now = self.clock()
        window = int(now // self.window)
        with self._lock:
            start, count = self._hits.get(key, (window, 0))
            if start != window:
                start, count = window, 0
                if len(self._hits) > 100_000:  # forget old windows
                    self._hits = {k: v for k, v in self._hits.items() if v[0] == window}
            if count >= self.limit:
                return (window + 1) * self.window - now
            self._hits[key] = (start, count + 1)
            return None
