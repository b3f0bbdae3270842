"""What a job needs before its process starts: its ``repository`` pinned at submit and cloned into its folder, and
its ``requirements``, built (or found in the cache) by the builder service:
``request_build`` over the bus, then the build's outcome read from its stream (``sessions/builds.BuildClient``, the
one studio starts use). The request's command id derives from the job and attempt, so a lifecycle that resumes a
provisioning job asks again under the same id and gets the same build."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

from libs.contracts.build_commands import RequestBuild
from libs.contracts.commands import CommandMeta
from libs.contracts.errors import InvalidInput
from libs.contracts.job import State
from services.lifecycle.sessions.builds import BuildClient, Outcome
from services.lifecycle.sessions.provisioning import ProvisioningError, resolve_commit

_NAMESPACE = uuid.UUID("0f6a52d4-4c0e-4b7a-9d0e-2f64f1f0c9a3")


def requirement_lines(text: str | None) -> tuple[str, ...]:
    """pip requirement lines, without blanks and comments (the DataChain CLI joins ``--req`` and ``--req-file``)."""
    lines = (line.split("#", 1)[0].strip() for line in (text or "").splitlines())
    return tuple(line for line in lines if line)


async def build(builds: BuildClient, s: State) -> str:
    """The build id of this attempt's environment (raises the builder's typed error, e.g. ``InvalidInput``)."""
    assert s.spec is not None
    cmd = RequestBuild(requirements=requirement_lines(s.spec.requirements), python=s.spec.python_version,
                       actor="lifecycle", requested_for=f"job-{s.job_id}", reason=f"attempt {s.attempt}")
    meta = CommandMeta(command_id=uuid.uuid5(_NAMESPACE, f"{s.job_id}:{s.attempt}"), origin="lifecycle")
    reply = await builds.client.send(cmd, meta=meta, timeout=30)
    return str((reply.result or {})["buildId"])


async def wait(builds: BuildClient, build_id: str) -> Outcome:
    return await builds.wait(build_id)


async def pin(repository: str) -> str:
    """The commit ``repository``'s HEAD names now (before anything is appended: no network call in a
    transaction), so every attempt of the job runs what its submitter saw."""
    try:
        return await resolve_commit(repository, None)
    except ProvisioningError as e:
        raise InvalidInput(f"repository: {e}", field="repository") from None


async def clone(repository: str, commit: str | None, into: Path) -> None:
    """``repository`` at ``commit`` as the job's folder (kept if an earlier launch of it cloned it already)."""
    if (into / ".git").exists():
        return
    await _git("clone", "--quiet", "--", repository, str(into))
    if commit:
        await _git("-C", str(into), "checkout", "--quiet", commit)


async def _git(*args: str, timeout: float = 600) -> None:
    proc = await asyncio.create_subprocess_exec("git", *args, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL,
                                                env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        raise ProvisioningError(f"git {args[0]} took longer than {timeout:.0f}s") from None
    if proc.returncode != 0:
        raise ProvisioningError(f"git {args[0]} failed: {out.decode(errors='replace').strip()[-500:]}")
