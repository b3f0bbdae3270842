"""A job's ``requirements``, built (or found in the cache) by the builder service before its process starts:
``request_build`` over the bus, then the build's outcome read from its stream (``sessions/builds.BuildClient``, the
one studio starts use). The request's command id derives from the job and attempt, so a lifecycle that resumes a
provisioning job asks again under the same id and gets the same build."""

from __future__ import annotations

import uuid

from libs.contracts.build_commands import RequestBuild
from libs.contracts.commands import CommandMeta
from libs.contracts.job import State
from services.lifecycle.sessions.builds import BuildClient, Outcome

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
