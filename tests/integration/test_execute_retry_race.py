"""A command retried while its first attempt is still in flight answers the first result, not a refusal.

With replicas, a client whose gateway was killed mid-request retries on the other gateway with the same
``Idempotency-Key``; the first attempt may still be executing in lifecycle. The retry looks for its command id,
finds nothing yet, and then loads the stream just after the first attempt committed: a stop now finds the studio
``stopping`` and its decision refuses (409), although the stop it asked for is exactly what happened.
"""

from __future__ import annotations

import importlib
import uuid
from datetime import UTC, datetime

import pytest

from libs.contracts.commands import CommandMeta
from libs.contracts.studio_commands import RecordSessionRunning, StopStudio
from libs.eventstore import EventStore
from services.lifecycle.handlers import StudioHandlers
from tests.integration.lifecycle_harness import create

#: the module, not the function ``libs.eventstore`` exports under the same name
execute_module = importlib.import_module("libs.eventstore.execute")


async def test_a_stop_retried_while_its_first_attempt_commits_answers_the_first_result(
        store: EventStore, monkeypatch: pytest.MonkeyPatch) -> None:
    handlers = StudioHandlers(store)
    cmd = create("retried-stop")
    await handlers.handle(cmd)
    await handlers.handle(RecordSessionRunning(session_id=cmd.session_id, now=datetime.now(UTC), actor="lifecycle",
                                               run=1, handle={}, url="http://127.0.0.1:1"))
    stop, meta = StopStudio(session_id=cmd.session_id, now=datetime.now(UTC), actor="alice"), \
        CommandMeta(command_id=uuid.uuid4())
    looked_up = execute_module.previous
    lookups = 0

    async def first_attempt_commits_right_after(store_: EventStore, command_id: uuid.UUID) -> object:
        nonlocal lookups
        lookups += 1
        if lookups == 1:  # the retry's first look finds nothing: the first attempt has not committed yet...
            await handlers.handle(stop, meta)  # ...and commits right after it looked
            return None
        return await looked_up(store_, command_id)

    monkeypatch.setattr(execute_module, "previous", first_attempt_commits_right_after)
    reply = await handlers.handle(stop, meta)  # the retry

    assert (reply.result or {})["repeated"] is True and (reply.result or {})["status"] == "stopping"
    stops = await store.pool.fetchval("SELECT count(*) FROM es.events WHERE stream_name = $1 AND event_type = $2",
                                      f"studio-{cmd.session_id}", "StudioStopRequested")
    assert stops == 1
