"""Bounded polls, the one way a test waits: for a condition, never for a length of time.

    state = await wait_for(lambda: handlers.state(sid), until=lambda s: s.status is RUNNING, within=20)
    await wait_for(lambda: tracker.count or None)

``check`` may be sync or async; ``wait_for`` returns its first value that ``until`` accepts (by default: any
value but None) and raises ``TimeoutError`` with the last value seen once ``within`` seconds have passed.
``within`` only bounds a test that would otherwise hang; no test asserts how long the wait took.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


def _not_none(value: Any) -> bool:
    return value is not None


async def wait_for(check: Callable[[], Awaitable[T | None] | T | None], within: float = 60.0, every: float = 0.01,
                   until: Callable[[Any], bool] = _not_none, what: str = "condition") -> T:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if until(value):
            return value  # type: ignore[return-value]
        if loop.time() >= deadline:
            raise TimeoutError(f"{what} not reached within {within} s (last seen: {value!r})")
        await asyncio.sleep(every)


def poll(check: Callable[[], T | None], what: str, timeout: float = 90.0, every: float = 0.2) -> T:
    """The synchronous twin of ``wait_for``, for tests that drive a system through blocking clients (``httpx.Client``,
    a vendor's SDK): ``check()`` until it returns something but None; ``AssertionError`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)
