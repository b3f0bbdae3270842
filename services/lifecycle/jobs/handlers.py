"""Command glue for jobs: stamp this service's clock, ``execute`` with the expected version, reply with the
position (read-your-writes in the gateway). A command from the bus keeps its command id, so a retried submit
answers its first result."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from libs.contracts.commands import CommandMeta, Reply, fingerprint
from libs.contracts.events import Event
from libs.contracts.job import State, stream_name
from libs.contracts.job_commands import CancelJob, JobCommand, SubmitJob
from libs.eventstore import AppendRequest, EventStore, Executed, StateCache, execute
from libs.platform.clock import Clock
from libs.platform.clock import now as utcnow
from services.lifecycle.jobs import job, provision
from services.lifecycle.jobs.job import Command

Also = Callable[[State, Sequence[Event]], Sequence[AppendRequest]]


class JobHandlers:
    def __init__(self, store: EventStore, clock: Clock = utcnow, source: str = "lifecycle") -> None:
        self.store, self.clock, self.source = store, clock, source
        self.cache = StateCache(size=20_000)
        self.on_change: Callable[[], None] = lambda: None  # the dispatcher's wake-up

    async def handle(self, command: JobCommand, meta: CommandMeta | None = None) -> Reply:
        assert isinstance(command, SubmitJob | CancelJob)
        meta = meta or CommandMeta()
        metadata: dict[str, Any] = meta.event_metadata(actor=command.actor, source=self.source,
                                                       fingerprint=fingerprint(command))
        metadata["command"] = command.name
        command = command.model_copy(update={"now": self.clock()})
        if isinstance(command, SubmitJob) and command.spec.repository and not command.spec.repository_commit:
            commit = await provision.pin(command.spec.repository)
            command = command.model_copy(update={"spec": command.spec.model_copy(
                update={"repository_commit": commit})})
        done = await execute(self.store, stream_name(command.job_id), command, job.decide, job.evolve, job.INITIAL,
                             metadata=metadata, command_id=meta.command_id, cache=self.cache)
        self.on_change()
        return Reply(position=done.position, result={
            "jobId": command.job_id, "status": done.state.status.value if done.state.status else None,
            "events": [e.event_type for e in done.events], "repeated": done.repeated})

    async def own(self, command: Command, also: Also | None = None) -> Executed[State]:
        """A command of the dispatcher or the scheduler (fresh ids; stale ones decide nothing)."""
        return await execute(self.store, stream_name(command.job_id), command, job.decide, job.evolve, job.INITIAL,
                             metadata={"source": self.source, "actor": command.actor,
                                       "command": type(command).__name__},
                             also=also, cache=self.cache)
