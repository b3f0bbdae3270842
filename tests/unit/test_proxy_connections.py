"""Connection tracking: HTTP throttling and idle sweeping on a manual clock; sending never blocks nor fails
(failures are logged and the next record is still sent; a full queue drops and logs instead of waiting)."""

from __future__ import annotations

import logging

import pytest

from libs.contracts.studio import StudioStatus
from libs.contracts.studio_state import State
from libs.testing.fakes import FailingSender, HangingSender, ManualClock, ProxiedUser, RecordingSender
from services.gateway.proxy.connections import ConnectionTracker

LOGGER = "services.gateway.proxy.connections"

STUDIO = State(exists=True, session_id="s1", status=StudioStatus.RUNNING, run=2)


ALICE = ProxiedUser("7", "alice")


def sent(sender: RecordingSender) -> list[tuple[str, bool]]:
    return [(c.connection_id, c.connected) for c in sender.sent]  # type: ignore[attr-defined]


async def test_http_use_opens_once_per_refresh_and_closes_when_idle() -> None:
    sender, clock = RecordingSender(), ManualClock()
    tracker = ConnectionTracker(sender, clock=clock, refresh=60, idle=300, sweep_every=3600)
    tracker.seen(STUDIO, ALICE)
    clock.advance(30)
    tracker.seen(STUDIO, ALICE)
    clock.advance(31)
    tracker.seen(STUDIO, ALICE)
    clock.advance(299)
    tracker.sweep()  # idle for 299 s: still open
    clock.advance(2)
    tracker.sweep()
    await tracker.stop()
    assert sent(sender) == [("http-7-2", True), ("http-7-2", True), ("http-7-2", False)]


async def test_websocket_open_and_close_keep_their_order() -> None:
    sender = RecordingSender()
    tracker = ConnectionTracker(sender)
    tracker.opened(STUDIO, ALICE, "c1")
    tracker.closed(STUDIO, ALICE, "c1")
    await tracker.stop()
    assert sent(sender) == [("c1", True), ("c1", False)]
    assert {(c.user_id, c.user_name, c.run) for c in sender.sent} == {("7", "alice", 2)}  # type: ignore[attr-defined]


async def test_stop_closes_open_http_connections() -> None:
    sender = RecordingSender()
    tracker = ConnectionTracker(sender)
    tracker.seen(STUDIO, ALICE)
    await tracker.stop()
    assert sent(sender) == [("http-7-2", True), ("http-7-2", False)]


async def test_a_failing_sender_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    sender = FailingSender()
    tracker = ConnectionTracker(sender)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        tracker.opened(STUDIO, ALICE, "c1")
        tracker.closed(STUDIO, ALICE, "c1")
        await tracker.stop()  # returns: the failures stayed inside the tracker
    assert sender.attempts == 2  # the first failure did not stop the worker from sending the next record
    failures = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert len(failures) == 2 and all("could not record connection c1 of studio s1" in m for m in failures)


async def test_a_full_queue_drops_records_instead_of_blocking(caplog: pytest.LogCaptureFixture) -> None:
    sender = HangingSender()
    tracker = ConnectionTracker(sender, max_pending=2, send_timeout=0.05)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        for i in range(10):
            tracker.opened(STUDIO, ALICE, f"c{i}")  # returns at once, whatever the sender does
        # Nothing has awaited yet, so the worker has not taken any: two records queued, eight dropped and logged.
        dropped = [r.getMessage() for r in caplog.records if "dropped (queue full)" in r.getMessage()]
        assert dropped == [f"connection record dropped (queue full): s1 c{i}" for i in range(2, 10)]
        await tracker.stop(flush_timeout=30)  # each hanging send ends at its own timeout
    assert sender.attempts == 2  # the two queued records were sent (and timed out); the dropped ones never were
