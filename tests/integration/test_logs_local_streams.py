"""The local backend keeps a tool's stdout and stderr apart (two files per run, ``libs.logs.tail.stderr_path``),
and the failure message it gives the exit watcher has the tool's last stderr lines first."""

from __future__ import annotations

import asyncio
from pathlib import Path

from libs.logs.tail import stderr_path
from services.lifecycle.backends.base import SessionState
from services.lifecycle.backends.local import LocalBackend
from tests.integration.test_backend_contract import make_spec


async def test_stderr_has_a_file_of_its_own_and_is_the_failure_message(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "state")
    spec = make_spec(tmp_path, tool="custom",
                     command=["sh", "-c", "echo working; echo 'no such table' >&2; echo done; exit 3"])
    handle = await backend.launch(spec)
    status = await asyncio.wait_for(backend.wait(handle), 10)
    await backend.stop(handle)
    out = backend.log_path(handle.session_id)
    assert (status.state, status.exit_code) == (SessionState.EXITED, 3)
    assert out.read_text() == "working\ndone\n"
    assert stderr_path(out).read_text() == "no such table\n"
    assert status.message == "no such table\nworking\ndone"  # stderr first, then the last of stdout
