"""Fakes shared by test modules, named for how they behave: a clock that moves only when told, a command sender
that keeps what it is sent (or fails, or never answers), and a user as the proxy sees one."""

from __future__ import annotations

import asyncio
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from libs.contracts.commands import Command, Reply


class ManualClock:
    """``clock()`` is ``now``, which moves only by ``advance`` (or by setting it): time in a test is a value."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2025, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class RecordingSender:
    """A command sender (``services.gateway.commands.CommandSender``) that keeps what it is sent."""

    def __init__(self) -> None:
        self.sent: list[Command] = []
        self._changed = asyncio.Event()

    async def send(self, cmd: Command) -> Reply:
        self.sent.append(cmd)
        self._changed.set()
        return Reply()

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Command]:
        """What was sent once there are ``count`` commands (or after ``timeout``: the caller asserts on it)."""
        with suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while len(self.sent) < count:
                    self._changed.clear()
                    await self._changed.wait()
        return list(self.sent)


class FailingSender:
    """Every send fails as a lost NATS connection would."""

    def __init__(self) -> None:
        self.attempts = 0

    async def send(self, cmd: Command) -> Reply:
        self.attempts += 1
        raise ConnectionError("NATS is down")


class HangingSender:
    """Every send waits forever (a NATS request nobody answers): the caller's timeout has to end it."""

    def __init__(self) -> None:
        self.attempts = 0

    async def send(self, cmd: Command) -> Reply:
        self.attempts += 1
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


@dataclass(frozen=True)
class ProxiedUser:
    """A user as the proxy sees one (``proxy.admission.ProxyUser``)."""

    user_id: str
    user_name: str | None
