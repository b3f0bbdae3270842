"""Jobs inside the lifecycle service: its command handlers, the dispatcher and the job log publisher, built and
run by lifecycle's composition root with three calls (``create``, ``register``, ``run``).

Jobs live in lifecycle (not a service of their own) because they run in the same environments and on the same
backend as studio sessions: one process owns the host's processes, their cgroups and their adoption after a
restart."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from nats.js import JetStreamContext

from libs.bus.commands import CommandServer
from libs.bus.streams import Topology
from libs.contracts.job_commands import CancelJob, SubmitJob
from libs.eventstore import EventStore
from libs.logs import LogPublisher
from services.lifecycle.jobs.dispatcher import Dispatcher, JobsConfig
from services.lifecycle.jobs.handlers import JobHandlers
from services.lifecycle.sessions.builds import BuildClient
from services.lifecycle.sessions.leadership import LeaderLock
from services.lifecycle.settings import LifecycleSettings

COMMANDS = (SubmitJob, CancelJob)


@dataclass
class Jobs:
    settings: LifecycleSettings
    handlers: JobHandlers
    dispatcher: Dispatcher

    @classmethod
    def create(cls, store: EventStore, settings: LifecycleSettings, builds: BuildClient | None = None) -> Jobs:
        """``builds``: the builder's client (requirements are built through it); None: they are not built."""
        handlers = JobHandlers(store)
        config = JobsConfig(settings.data_dir.resolve() / "jobs", grace=settings.stop_grace_seconds,
                            interval=settings.job_dispatch_interval_seconds, aging=settings.job_aging_seconds)
        config.root.mkdir(parents=True, exist_ok=True)
        leader = LeaderLock(settings.require_urls()[0], name="lifecycle-jobs")
        dispatcher = Dispatcher(store, handlers, config, leader=leader)
        dispatcher.builds = builds
        return cls(settings, handlers, dispatcher)

    def register(self, server: CommandServer) -> None:
        for command in COMMANDS:
            server.handle(command)(self.handlers.handle)

    async def run(self, js: JetStreamContext, topology: Topology, stop: asyncio.Event,
                  system: Callable[[], bool] = lambda: False) -> None:
        """Until ``stop``. Jobs keep running when lifecycle restarts (the next one adopts them); a whole-system
        shutdown (``system()`` true once stopped) stops them and records why."""
        publisher = LogPublisher(js, self.settings.private_path(self.settings.state_dir / "job-log-spool"),
                                 prefix=topology.logs_prefix)  # one spool per replica
        publisher.start()
        self.dispatcher.sink = publisher
        try:
            await self.dispatcher.run(stop)
            if system() and (self.dispatcher.leader is None or await self.dispatcher.leader.hold()):
                await self.dispatcher.shutdown()
        finally:
            with contextlib.suppress(Exception):
                await publisher.flush(5.0)
            with contextlib.suppress(Exception):
                await publisher.close()
            if self.dispatcher.leader is not None:
                await self.dispatcher.leader.release()
