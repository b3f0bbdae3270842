"""Connection tracking: HTTP throttling and idle sweeping on a fake clock; sending never blocks nor fails."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from libs.contracts.commands import Command, Reply
from libs.contracts.studio import StudioStatus
from libs.contracts.studio_state import State
from services.gateway.proxy.connections import ConnectionTracker

STUDIO = State(exists=True, session_id="s1", status=StudioStatus.RUNNING, run=2)


class User:
    user_id = 7
    user_name = "alice"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2025, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class RecordingSender:
    def __init__(self) -> None:
        self.sent: list[Command] = []

    async def send(self, cmd: Command) -> Reply:
        self.sent.append(cmd)
        return Reply()


class FailingSender:
    async def send(self, cmd: Command) -> Reply:
        raise ConnectionError("NATS is down")


class HangingSender:
    async def send(self, cmd: Command) -> Reply:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


def sent(sender: RecordingSender) -> list[tuple[str, bool]]:
    return [(c.connection_id, c.connected) for c in sender.sent]  # type: ignore[attr-defined]


async def test_http_use_opens_once_per_refresh_and_closes_when_idle() -> None:
    sender, clock = RecordingSender(), Clock()
    tracker = ConnectionTracker(sender, clock=clock, refresh=60, idle=300, sweep_every=3600)
    tracker.seen(STUDIO, User())
    clock.advance(30)
    tracker.seen(STUDIO, User())
    clock.advance(31)
    tracker.seen(STUDIO, User())
    clock.advance(299)
    tracker.sweep()  # idle for 299 s: still open
    clock.advance(2)
    tracker.sweep()
    await tracker.stop()
    assert sent(sender) == [("http-7-2", True), ("http-7-2", True), ("http-7-2", False)]


async def test_websocket_open_and_close_keep_their_order() -> None:
    sender = RecordingSender()
    tracker = ConnectionTracker(sender)
    tracker.opened(STUDIO, User(), "c1")
    tracker.closed(STUDIO, User(), "c1")
    await tracker.stop()
    assert sent(sender) == [("c1", True), ("c1", False)]
    assert {(c.user_id, c.user_name, c.run) for c in sender.sent} == {("7", "alice", 2)}  # type: ignore[attr-defined]


async def test_stop_closes_open_http_connections() -> None:
    sender = RecordingSender()
    tracker = ConnectionTracker(sender)
    tracker.seen(STUDIO, User())
    await tracker.stop()
    assert sent(sender) == [("http-7-2", True), ("http-7-2", False)]


async def test_a_failing_sender_is_logged_not_raised() -> None:
    tracker = ConnectionTracker(FailingSender())
    tracker.opened(STUDIO, User(), "c1")
    await tracker.stop()  # nothing raised


async def test_a_full_queue_drops_records_instead_of_blocking() -> None:
    tracker = ConnectionTracker(HangingSender(), max_pending=2, send_timeout=0.05)
    for i in range(10):
        tracker.opened(STUDIO, User(), f"c{i}")  # returns at once, whatever the sender does
    await tracker.stop(flush_timeout=0.5)
