"""Connection tracking on a manual clock: HTTP use opens once, is renewed at most once per 30 s and only when used,
and closes when unused; open WebSockets are renewed while open; renewals coalesce; opens and closes are never
dropped and keep their order when the lifecycle is down for a while; sending never raises into the proxy."""

from __future__ import annotations

import logging

import pytest

from libs.contracts.commands import Command, Reply
from libs.contracts.errors import NotFound, Unavailable
from libs.contracts.studio import StudioStatus
from libs.contracts.studio_commands import RecordConnection
from libs.contracts.studio_state import State
from libs.testing.fakes import HangingSender, ManualClock, ProxiedUser, RecordingSender
from libs.testing.waiting import wait_for
from services.gateway.proxy.connections import ConnectionTracker

LOGGER = "services.gateway.proxy.connections"

STUDIO = State(exists=True, session_id="s1", status=StudioStatus.RUNNING, run=2)
ALICE = ProxiedUser("7", "alice")


def kind(c: Command) -> str:
    assert isinstance(c, RecordConnection)
    return "active" if c.active else "open" if c.connected else "close"


def sent(sender: RecordingSender) -> list[tuple[str, str]]:
    return [(c.connection_id, kind(c)) for c in sender.sent]  # type: ignore[attr-defined]


class DownThenUpSender(RecordingSender):
    """The lifecycle is down (503) for the first ``failures`` sends, then takes everything."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def send(self, cmd: Command) -> Reply:
        if self.failures > 0:
            self.failures -= 1
            raise Unavailable("no lifecycle service answers record_connection")
        return await super().send(cmd)


class RefusingSender(RecordingSender):
    async def send(self, cmd: Command) -> Reply:
        await super().send(cmd)
        raise NotFound("Studio s1 not found")


async def test_http_use_opens_once_is_renewed_only_when_used_and_closes_when_unused() -> None:
    sender, clock = RecordingSender(), ManualClock()
    tracker = ConnectionTracker(sender, clock=clock, lease=90, renew=30, sweep_every=3600)
    tracker.seen(STUDIO, ALICE)
    clock.advance(20)
    tracker.seen(STUDIO, ALICE)  # within 30 s of the open: nothing to send
    clock.advance(11)
    tracker.seen(STUDIO, ALICE)  # renewed
    await sender.wait_for(2)
    clock.advance(40)
    tracker.sweep()  # not used since its renewal: not renewed again
    clock.advance(51)
    tracker.sweep()  # unused for 91 s > the lease: closed
    await tracker.stop()
    assert sent(sender) == [("http-7-2", "open"), ("http-7-2", "active"), ("http-7-2", "close")]
    assert all(c.lease_seconds == 90 for c in sender.sent[:2])  # type: ignore[attr-defined]


async def test_an_open_websocket_is_renewed_while_open_then_closed_in_order() -> None:
    sender, clock = RecordingSender(), ManualClock()
    tracker = ConnectionTracker(sender, clock=clock, sweep_every=3600)
    tracker.opened(STUDIO, ALICE, "c1")
    await sender.wait_for(1)
    for _ in range(3):
        clock.advance(30)
        tracker.sweep()
        await sender.wait_for(len(sender.sent) + 1)
    tracker.closed(STUDIO, ALICE, "c1")
    await tracker.stop()
    assert sent(sender) == [("c1", "open"), ("c1", "active"), ("c1", "active"), ("c1", "active"), ("c1", "close")]
    assert {(c.user_id, c.user_name, c.run) for c in sender.sent} == {("7", "alice", 2)}  # type: ignore[attr-defined]


async def test_renewals_waiting_to_be_sent_coalesce_and_a_close_drops_its_renewal() -> None:
    sender, clock = RecordingSender(), ManualClock()
    tracker = ConnectionTracker(sender, clock=clock, sweep_every=3600)
    tracker.opened(STUDIO, ALICE, "c1")
    tracker.opened(STUDIO, ALICE, "c2")
    for _ in range(4):  # nothing awaits in between: the worker has not run yet
        clock.advance(30)
        tracker.sweep()
    tracker.closed(STUDIO, ALICE, "c2")
    await tracker.stop()  # stop closes c1
    assert sent(sender) == [("c1", "open"), ("c2", "open"), ("c2", "close"), ("c1", "close")]


async def test_opens_and_closes_are_never_dropped_and_keep_their_order_while_the_lifecycle_is_down(
        caplog: pytest.LogCaptureFixture) -> None:
    sender = DownThenUpSender(failures=5)
    tracker = ConnectionTracker(sender, retry_max=0.01)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        for i in range(50):
            tracker.opened(STUDIO, ALICE, f"c{i}")  # returns at once, whatever the sender does
            tracker.closed(STUDIO, ALICE, f"c{i}")
        await wait_for(lambda: len(sender.sent) == 100 or None, within=30, what="every open and close")
        await tracker.stop()
    assert sent(sender) == [(f"c{i}", k) for i in range(50) for k in ("open", "close")]
    assert sum("will retry" in r.getMessage() for r in caplog.records) == 5


async def test_a_refused_record_is_logged_and_not_retried(caplog: pytest.LogCaptureFixture) -> None:
    sender = RefusingSender()
    tracker = ConnectionTracker(sender)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        tracker.opened(STUDIO, ALICE, "c1")
        tracker.closed(STUDIO, ALICE, "c1")
        await tracker.stop()  # returns: the refusals stayed inside the tracker
    assert sent(sender) == [("c1", "open"), ("c1", "close")]
    assert sum("refused" in r.getMessage() for r in caplog.records) == 2


async def test_a_hanging_lifecycle_never_blocks_the_proxy() -> None:
    sender = HangingSender()
    tracker = ConnectionTracker(sender, send_timeout=0.05, retry_max=0.01)
    for i in range(10):
        tracker.opened(STUDIO, ALICE, f"c{i}")  # returns at once
    await wait_for(lambda: sender.attempts >= 2 or None, what="a retry after the timeout")
    await tracker.stop(flush_timeout=0.2)  # bounded, although nothing was ever taken
    assert sender.attempts >= 2
