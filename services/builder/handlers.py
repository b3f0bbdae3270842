"""Command handlers: glue between a command (from NATS or the builder's own runner) and the aggregates.

``request`` normalises the spec and derives the key before anything is decided (so every sender of one spec names
one stream), and tells the runner when a new attempt was queued. Ten identical requests at once race for the
stream's first append; the losers decide again on the winner's state and join its build (``execute`` retries on
the version conflict).
"""

from __future__ import annotations

import importlib.metadata
import sys
import sysconfig
from collections.abc import Callable
from typing import Any

from libs.contracts import build as contract
from libs.contracts import template as template_contract
from libs.contracts.build_commands import (
    BuildCommand,
    CancelBuild,
    GetBuildLog,
    QueueBuild,
    RequestBuild,
    SaveTemplate,
)
from libs.contracts.commands import CommandMeta, Reply, fingerprint
from libs.contracts.errors import NotFound
from libs.eventstore import EventStore, StateCache, execute, load
from libs.platform.clock import Clock
from libs.platform.clock import now as utcnow
from services.builder import build, spec, template
from services.builder.buildlog import BuildLogs
from services.builder.environments.routing import Environments
from services.builder.images.dockerfile import IMAGE_FORMAT

#: bump when a change here makes the same spec build a different environment (it is part of every key)
BUILDER_FORMAT = "1"


def builder_version() -> str:
    return f"{BUILDER_FORMAT}+uv{importlib.metadata.version('uv')}"


def platform_tag() -> str:
    return f"{sysconfig.get_platform()}-{sys.implementation.name}"


def default_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def result(state: build.State, **extra: Any) -> dict[str, Any]:
    return {"buildId": state.build_id, "status": state.status.value if state.status else None,
            "attempt": state.attempt, "key": state.key, "message": state.message, "builds": state.builds,
            "artifact": state.artifact.model_dump() if state.artifact else None, **extra}


class BuilderHandlers:
    def __init__(self, store: EventStore, envs: Environments, logs: BuildLogs, clock: Clock = utcnow,
                 source: str = "builder") -> None:
        self.store, self.envs, self.logs, self.clock, self.source = store, envs, logs, clock, source
        self.cache = StateCache(size=2000)
        self.version, self.platform = builder_version(), platform_tag()
        #: called with (build id, attempt) when an attempt is queued, and with a build id when one is cancelled
        self.queued: Callable[[str, int], None] = lambda build_id, attempt: None
        self.cancelled: Callable[[str], None] = lambda build_id: None

    async def state(self, build_id: str) -> build.State:
        return (await load(self.store, contract.stream_name(build_id), build.evolve, build.INITIAL,
                           cache=self.cache))[0]

    async def request(self, c: RequestBuild, meta: CommandMeta | None = None) -> Reply:
        normalised = spec.parse(c.conda_environment, c.requirements, c.python, default_python=default_python(),
                                target=c.target, base_image=c.base_image or self.envs.base_image)
        # An image's key holds its base image as named (pin it by digest for a new base to mean a new build):
        # asking the engine for the base's id here would change the key once a first build has pulled it.
        self.envs.check(normalised)
        version = self.version if c.target == "venv" else f"{self.version}+image{IMAGE_FORMAT}"
        key = spec.key(normalised, platform=self.platform, builder_version=version)
        build_id = spec.build_id(key)
        current = await self.state(build_id)
        missing = current.artifact is not None and not await self.envs.exists(current.artifact)
        queue = QueueBuild(build_id=build_id, now=self.clock(), actor=c.actor, reason=c.reason, key=key,
                           spec=normalised, platform=self.platform, builder_version=version,
                           template_id=c.template_id, requested_for=c.requested_for, artifact_missing=missing)
        return await self._run(queue, meta, fingerprint(c))

    async def cancel(self, c: CancelBuild, meta: CommandMeta | None = None) -> Reply:
        reply = await self._run(c, meta, fingerprint(c))
        self.cancelled(c.build_id)
        return reply

    async def record(self, c: BuildCommand) -> Reply:
        """The runner's own reports: fresh ids, never repeats."""
        return await self._run(c, None, None)

    async def _run(self, c: BuildCommand, meta: CommandMeta | None, hashed: str | None) -> Reply:
        sent = meta is not None
        meta = meta or CommandMeta()
        metadata: dict[str, Any] = meta.event_metadata(actor=c.actor, source=self.source, fingerprint=hashed)
        metadata["command"] = c.name
        c = c.model_copy(update={"now": self.clock()})
        done = await execute(self.store, contract.stream_name(c.build_id), c, build.decide, build.evolve,
                             build.INITIAL, metadata=metadata, command_id=meta.command_id if sent else None,
                             cache=self.cache)
        for event in done.events:
            if isinstance(event, contract.BuildRequested):
                self.queued(event.build_id, event.attempt)
        reused = isinstance(c, QueueBuild) and not done.events and done.state.status is contract.BuildStatus.SUCCEEDED
        return Reply(position=done.position, result=result(
            done.state, events=[e.event_type for e in done.events], repeated=done.repeated, reused=reused))

    async def get_log(self, c: GetBuildLog, meta: CommandMeta | None = None) -> Reply:
        state = await self.state(c.build_id)
        if state.status is None:
            raise NotFound(f"no build {c.build_id}")
        page = self.logs.read(c.build_id, c.attempt, c.offset, min(max(c.limit, 1), 10_000))
        finished = state.status not in build.OPEN or (page["attempt"] or 0) < state.attempt
        return Reply(result={**page, "status": state.status.value, "finished": finished})

    async def save_template(self, c: SaveTemplate, meta: CommandMeta | None = None) -> Reply:
        sent = meta is not None
        meta = meta or CommandMeta()
        metadata: dict[str, Any] = meta.event_metadata(actor=c.actor, source=self.source,
                                                       fingerprint=fingerprint(c) if sent else None)
        c = c.model_copy(update={"now": self.clock()})
        done = await execute(self.store, template_contract.stream_name(c.template_id), c, template.decide,
                             template.evolve, template.INITIAL, metadata=metadata,
                             command_id=meta.command_id if sent else None)
        return Reply(position=done.position, result={"templateId": c.template_id, "version": done.state.version,
                                                     "events": [e.event_type for e in done.events]})
