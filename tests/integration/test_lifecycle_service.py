"""The lifecycle service over NATS with the real local backend: start, use, stop, delete, conflicts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from libs.contracts.errors import Conflict, InvalidInput
from libs.contracts.studio import ProgressStatus, StopReason, StudioStatus
from libs.contracts.studio_commands import DeleteStudio, StartStudio, StopStudio
from tests.integration.lifecycle_harness import create, running_lifecycle


def _now() -> datetime:
    return datetime.now(UTC)


async def test_start_use_stop_delete(database_url: str, nats_url: str, tmp_path: Path) -> None:
    async with running_lifecycle(database_url, nats_url, tmp_path) as lc:
        cmd = create("echo-1")
        reply = await lc.send(cmd)
        assert reply.position and reply.result and reply.result["sessionId"] == cmd.session_id
        state = await lc.wait_status(cmd.session_id, StudioStatus.RUNNING)
        assert [p.status for p in state.progress] == [ProgressStatus.SUCCEEDED] * 4
        handle = state.handle or {}
        url = f"http://{handle['host']}:{handle['port']}/connect/{cmd.session_id}/hello"
        async with httpx.AsyncClient() as http:
            assert (await http.get(url, headers={"X-Studios-Secret": lc.secret(state)})).status_code == 200
            assert (await http.get(url)).status_code == 403

        with pytest.raises(Conflict):
            await lc.send(StartStudio(session_id=cmd.session_id, now=_now(), actor="1"))
        await lc.send(StopStudio(session_id=cmd.session_id, now=_now(), actor="1"))
        state = await lc.wait_status(cmd.session_id, StudioStatus.STOPPED)
        assert state.stop_reason is StopReason.USER_REQUEST
        async with httpx.AsyncClient() as http:
            with pytest.raises(httpx.ConnectError):
                await http.get(url)
        await lc.send(DeleteStudio(session_id=cmd.session_id, now=_now(), actor="1"))
        assert (await lc.state(cmd.session_id)).deleted
        # the name is free again once the studio is deleted
        await lc.send(create("echo-1", auto_start=False))


async def test_duplicate_name_and_bad_input_leave_the_store_unchanged(
        database_url: str, nats_url: str, tmp_path: Path) -> None:
    async with running_lifecycle(database_url, nats_url, tmp_path) as lc:
        await lc.send(create("taken", auto_start=False))
        before = await lc.store.pool.fetchval("SELECT count(*) FROM es.events")
        with pytest.raises(Conflict):
            await lc.send(create("taken", auto_start=False))
        with pytest.raises(Conflict):
            await lc.send(create("TAKEN", auto_start=False))
        with pytest.raises(InvalidInput):
            await lc.send(create("x" * 81, auto_start=False))
        assert await lc.store.pool.fetchval("SELECT count(*) FROM es.events") == before


async def test_a_tool_that_never_answers_ends_errored_with_a_reason(
        database_url: str, nats_url: str, tmp_path: Path) -> None:
    async with running_lifecycle(database_url, nats_url, tmp_path, STUDIOS_READY_TIMEOUT_SECONDS=2) as lc:
        # A custom command on a compute env that was never registered: allowed (no env events), but it
        # serves nothing, so the readiness probe gives up.
        from libs.contracts.studio import StudioConfiguration, StudioTemplate

        cmd = create(f"silent-{uuid.uuid4().hex[:4]}",
                     template=StudioTemplate(repository="studios/custom:1", tool="custom"),
                     configuration=StudioConfiguration(command=("sleep", "60")))
        await lc.send(cmd)
        state = await lc.wait_status(cmd.session_id, StudioStatus.ERRORED, timeout=30)
        assert state.status_message and "did not answer" in state.status_message
        assert any(p.status is ProgressStatus.ERRORED for p in state.progress)
