"""The one bounded wait the tests use: poll until something is true, never a fixed sleep.

The bound is generous (the machine running the suite may be busy); a wait
that runs out fails naming what it waited for and the last value it saw."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(fetch: Callable[[], T], what: str = "the condition", *, timeout: float = 60.0,
             interval: float = 0.1) -> T:
    """Poll `fetch` until it returns something truthy; that value is returned."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fetch()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last: {last!r:.300})")
