"""Waiting for another thread or process without guessing how long it takes.

A test that drives a real server, worker or subprocess waits for what it needs to see
(a request arrived, a line was printed) by asking again every few milliseconds, up to a
generous limit, and fails with a message that says what never happened. A test that
needs time itself to pass (a back-off, a lease, a deadline) moves the clock instead: see
the `clock` fixture in tests/conftest.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(
    predicate: Callable[[], object],
    *,
    timeout: float = 10.0,
    interval: float = 0.01,
    message: str | Callable[[], str] = "",
) -> None:
    """Return as soon as `predicate()` is true; fail the test if it is still false after
    `timeout` seconds. `message` (or a function that makes it, called only on failure)
    says what was awaited, e.g. the log of the process that should have done it."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)  # polling: the next look, not a guess at how long it takes
    text = message() if callable(message) else message
    raise AssertionError(f"still not true after {timeout:g} s: {text or predicate!r}")
