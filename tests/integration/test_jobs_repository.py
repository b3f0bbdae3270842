"""A job's ``repository`` is pinned to its HEAD when submitted and cloned as the job's folder: the script imports
from it at that commit; a repository that cannot be read is refused at submit."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from libs.contracts.errors import InvalidInput
from libs.contracts.job import JobStatus
from tests.integration.jobs_helpers import submit, wait_final
from tests.integration.lifecycle_harness import running_lifecycle


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def _repository(path: Path) -> str:
    path.mkdir()
    _git(path, "init", "--quiet")
    (path / "helper.py").write_text("ANSWER = 42\n")
    _git(path, "add", "helper.py")
    _git(path, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "--quiet", "-m", "one")
    return _git(path, "rev-parse", "HEAD")


async def test_a_jobs_repository_is_pinned_at_submit_and_cloned_as_its_folder(database_url: str, nats_url: str,
                                                                              tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    head = _repository(repo)
    async with running_lifecycle(database_url, nats_url, tmp_path / "lc", STUDIOS_JOB_DISPATCH_INTERVAL_SECONDS=0.05,
                                 STUDIOS_LIFECYCLE_METRICS_PORT=0) as lc:
        job_id = await submit(lc, "import sys, helper\nsys.exit(0 if helper.ANSWER == 42 else 5)\n",
                              repository=str(repo))
        s = await wait_final(lc.store, job_id)
        assert s.status == JobStatus.COMPLETE, s.error_message
        assert s.spec is not None and s.spec.repository_commit == head
        with pytest.raises(InvalidInput, match="repository"):
            await submit(lc, "print(1)", repository=str(tmp_path / "nowhere"))
