"""The in-process moving window: exact counts, ageing out, keys forgotten."""

from __future__ import annotations

import time

from limits import parse

from shared.web.ratelimit import LocalMovingWindow, RateLimiter


def test_a_limit_allows_exactly_its_amount_per_key():
    limiter = RateLimiter("memory://", {"public_read": "3/minute"})
    verdicts = [limiter.hit("public_read", "203.0.113.7") for _ in range(4)]
    assert [v.allowed for v in verdicts] == [True, True, True, False]
    assert [v.remaining for v in verdicts] == [2, 1, 0, 0]
    assert verdicts[-1].headers()["Retry-After"] == str(verdicts[-1].reset_after)
    assert 1 <= verdicts[-1].reset_after <= 60
    assert limiter.hit("public_read", "198.51.100.1").allowed


def test_hits_age_out_of_the_window(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    window = LocalMovingWindow()
    item = parse("2/second")
    assert window.hit(item, "vote", "k").allowed and window.hit(item, "vote", "k").allowed
    assert not window.hit(item, "vote", "k").allowed
    clock[0] += 1.01
    assert window.hit(item, "vote", "k").allowed


def test_keys_with_nothing_left_are_forgotten(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    window = LocalMovingWindow()
    item = parse("10/minute")
    for n in range(LocalMovingWindow.SWEEP_EVERY - 1):
        window.hit(item, "vote", f"voter-{n}")
    assert len(window) == LocalMovingWindow.SWEEP_EVERY - 1
    clock[0] += 2 * 24 * 3600
    window.hit(item, "vote", "latest")  # the sweep runs on this hit
    assert len(window) == 1
