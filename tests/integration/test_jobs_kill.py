"""Kill lifecycle with SIGKILL while its job queue runs: after a restart every job ends COMPLETE, none ran twice
(each appended one line to its own file, and has one JobStarted), none was lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import nats
import pytest

from libs.bus.commands import CommandClient
from libs.contracts.job import JobStatus
from libs.contracts.job_commands import SubmitJob
from libs.eventstore import EventStore
from libs.testing.waiting import wait_for
from tests.integration.jobs_helpers import spec, starts, state, wait_final

pytestmark = pytest.mark.slow
N = 30
SCRIPT = """import os, time
with open(os.path.join({marks!r}, os.environ["STUDIOS_JOB_ID"]), "a") as f:
    f.write("ran\\n")
time.sleep(0.3)
"""


def _spawn(database_url: str, nats_url: str, data_dir: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": database_url, "NATS_URL": nats_url, "STUDIOS_DATA_DIR": str(data_dir),
           "STUDIOS_JOB_DISPATCH_INTERVAL_SECONDS": "0.05", "STUDIOS_LIFECYCLE_METRICS_PORT": "0"}
    log = (data_dir / "lifecycle.log").open("ab")
    return subprocess.Popen([sys.executable, "-m", "services.lifecycle"], env=env, stdout=log, stderr=log)


async def _serving(client: CommandClient, proc: subprocess.Popen[bytes]) -> bool:
    assert proc.poll() is None, "lifecycle exited"
    try:
        await client.nc.request("studios.cmd.lifecycle.submit_job", b"{}", timeout=0.2)  # refused: no job
        return True
    except Exception:
        return False


async def test_sigkill_while_the_queue_runs_loses_no_job_and_runs_none_twice(database_url: str, nats_url: str,
                                                                            tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    store = await EventStore.connect(database_url)
    nc = await nats.connect(nats_url)
    client = CommandClient(nc)
    proc = _spawn(database_url, nats_url, tmp_path)
    try:
        serving: bool = await wait_for(lambda: _serving(client, proc), until=bool, within=60,
                                       what="lifecycle serving")
        assert serving
        ids = [str(uuid.uuid4()) for _ in range(N)]
        for job_id in ids:
            await client.send(SubmitJob(job_id=job_id, now=datetime.now(UTC), actor="1", workspace_id="1",
                                        team="default", created_by="admin",
                                        spec=spec(SCRIPT.format(marks=str(marks)), priority=3)), timeout=10)

        async def completed() -> int:
            return sum([(await state(store, j)).status == JobStatus.COMPLETE for j in ids])

        done: int = await wait_for(completed, until=lambda n: n >= 4, within=60, what="a few jobs complete")
        assert done >= 4
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        at_kill = [(await state(store, j)).status for j in ids]
        assert JobStatus.QUEUED in at_kill  # the queue was still being worked through
        proc = _spawn(database_url, nats_url, tmp_path)
        for job_id in ids:
            s = await wait_final(store, job_id, within=120)
            assert s.status == JobStatus.COMPLETE, (s.status, s.error_message)
            assert (marks / job_id).read_text() == "ran\n"
            assert len(await starts(store, job_id)) == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        await nc.close()
        await store.close()
