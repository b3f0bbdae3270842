"""Commands to the job aggregate over NATS (``studios.cmd.lifecycle.<name>``); the gateway's DataChain dialect
sends them. The gateway resolves the team, the cluster and the uploaded files before it sends: lifecycle never
reads the gateway's tables. ``now`` is re-stamped by lifecycle's handler (the domain has no clock)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import AwareDatetime

from libs.contracts.commands import Command
from libs.contracts.job import JobSpec


class JobCommand(Command):
    service: ClassVar[str] = "lifecycle"
    job_id: str
    now: AwareDatetime
    actor: str
    reason: str | None = None


class SubmitJob(JobCommand):
    name: ClassVar[str] = "submit_job"
    workspace_id: str
    team: str
    created_by: str
    spec: JobSpec


class CancelJob(JobCommand):
    name: ClassVar[str] = "cancel_job"
