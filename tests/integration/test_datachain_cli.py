"""The real ``datachain`` CLI (a test dependency), unmodified, against Studios: upload a file, run a job that reads
it, follow its logs to COMPLETE, list jobs and clusters, cancel a long job."""

from __future__ import annotations

import json
import re
from pathlib import Path

import psutil

from libs.contracts.job import JobStatus, State
from libs.testing.waiting import wait_for
from tests.integration.datachain_helpers import cli, running_system
from tests.integration.jobs_helpers import state, wait_final

READER = """import os
print(open("data.txt").read().strip().upper())
print("greeting:", os.environ["GREETING"])
"""


async def test_the_datachain_cli_runs_follows_lists_and_cancels_jobs(database_url: str, nats_url: str,
                                                                     tmp_path: Path) -> None:
    async with running_system(database_url, nats_url, tmp_path) as system:
        (system.home / "data.txt").write_text("hello from an uploaded file\n")
        (system.home / "reader.py").write_text(READER)
        code, out = await cli(system, "job", "run", "reader.py", "--files", "data.txt", "--env", "GREETING=hi")
        assert code == 0, out
        assert "HELLO FROM AN UPLOADED FILE" in out and "greeting: hi" in out
        assert "Job is now in COMPLETE status" in out
        job_id = re.search(r"Job (\S+) created", out).group(1)  # type: ignore[union-attr]

        code, out = await cli(system, "job", "ls", "--json")
        assert code == 0, out
        listed = {j["id"]: j for j in json.loads(out[out.index("["):])}
        assert listed[job_id]["status"] == "COMPLETE" and listed[job_id]["exit_code"] == 0

        code, out = await cli(system, "job", "clusters", "--json")
        assert code == 0, out
        clusters = json.loads(out[out.index("["):])
        assert [c["name"] for c in clusters if c["default"]] == ["local"]

        (system.home / "long.py").write_text("import time\nprint('working', flush=True)\ntime.sleep(300)\n")
        code, out = await cli(system, "job", "run", "long.py", "--no-wait")
        assert code == 0, out
        long_id = re.search(r"Job (\S+) created", out).group(1)  # type: ignore[union-attr]
        running: State = await wait_for(lambda: state(system.lc.store, long_id), within=60,
                                 until=lambda s: s.status == JobStatus.RUNNING and s.pid)
        code, out = await cli(system, "job", "cancel", long_id)
        assert code == 0, out
        assert f"Job {long_id} canceled" in out
        assert (await wait_final(system.lc.store, long_id)).status == JobStatus.CANCELED
        assert running.pid is not None
        assert not psutil.pid_exists(running.pid) or psutil.Process(running.pid).status() == psutil.STATUS_ZOMBIE
