"""A deleted studio's workspace folder is given back by the lifecycle service (local backend, real tools, its
reconcile pass): everything in it goes, what its symlinks name stays, and other studios' folders are untouched."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from libs.contracts.errors import Conflict
from libs.contracts.studio import StudioStatus
from libs.contracts.studio_commands import DeleteStudio, StopStudio
from libs.testing.waiting import wait_for
from tests.integration.lifecycle_harness import Lifecycle, create, running_lifecycle


async def _running(lc: Lifecycle, name: str) -> tuple[str, Path]:
    cmd = create(name)
    await lc.send(cmd)
    await lc.wait_status(cmd.session_id, StudioStatus.RUNNING, timeout=60)
    return cmd.session_id, lc.settings.workspaces_dir / cmd.session_id


async def _stopped(lc: Lifecycle, sid: str) -> None:
    await lc.send(StopStudio(session_id=sid, now=datetime.now(UTC), actor="1"))
    await lc.wait_status(sid, StudioStatus.STOPPED, timeout=60)


async def test_a_deleted_studios_workspace_folder_goes_and_nothing_else_does(
        database_url: str, nats_url: str, tmp_path: Path) -> None:
    outside = tmp_path / "shared-data"
    outside.mkdir()
    (outside / "reference.csv").write_text("a,b\n")
    async with running_lifecycle(database_url, nats_url, tmp_path / "data") as lc:
        gone, gone_ws = await _running(lc, "to-delete")
        kept, kept_ws = await _running(lc, "to-keep")
        (gone_ws / "results" / "run-1").mkdir(parents=True)
        (gone_ws / "results" / "run-1" / "model.bin").write_bytes(b"\0" * 4096)
        (gone_ws / "results").chmod(0o555)
        (gone_ws / "data").mkdir()
        (gone_ws / "data" / "ref").symlink_to(outside, target_is_directory=True)  # as a data link is shown
        (kept_ws / "notes.txt").write_text("still mine")

        with pytest.raises(Conflict):  # running: refused, and the folder is left as it is
            await lc.send(DeleteStudio(session_id=gone, now=datetime.now(UTC), actor="1"))
        await _stopped(lc, gone)
        await _stopped(lc, kept)
        assert gone_ws.is_dir()  # a stop keeps the folder: the next start works in it
        await lc.send(DeleteStudio(session_id=gone, now=datetime.now(UTC), actor="1"))

        await wait_for(lambda: not gone_ws.exists(), within=30, until=bool,
                       what="the deleted studio's workspace folder removed by a reconcile pass")
        assert (outside / "reference.csv").read_text() == "a,b\n"
        assert (kept_ws / "notes.txt").read_text() == "still mine"
        assert (await lc.state(kept)).status is StudioStatus.STOPPED
