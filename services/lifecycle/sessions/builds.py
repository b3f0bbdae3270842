"""A start that needs a built environment: ask the builder for it, then wait for the build's outcome.

The builder answers ``request_build`` at once with the build's id (a cache hit already ``succeeded``); the outcome
is a fact in the build's stream (``BuildSucceeded``/``BuildFailed``/``BuildCancelled``, ``libs/contracts/build``),
which this reads from the store, woken early by the relayed build events (``notify``) and polling meanwhile, so a
missed wake-up costs a poll, never a studio. The wait is bounded: a builder that never comes back fails the start
with a reason instead of leaving the studio ``building`` forever.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from libs.bus.commands import CommandClient
from libs.contracts import build as contract
from libs.contracts.build_commands import RequestBuild
from libs.contracts.commands import CommandMeta
from libs.contracts.events import registry
from libs.contracts.studio_state import State
from libs.eventstore import EventStore

#: the namespace of the command ids of a run's build request, so a resumed start asks again under the same id
_NAMESPACE = uuid.UUID("6f1c5f3e-2b1d-4c55-9b5e-6d2f4f0b7a11")


@dataclass(frozen=True)
class Outcome:
    build_id: str
    succeeded: bool
    message: str | None = None
    python_env: Path | None = None
    duration_seconds: float | None = None
    #: an image build's reference (``repository:tag`` on the engine): what a docker session runs
    image: str | None = None


class BuildClient:
    def __init__(self, store: EventStore, client: CommandClient, *, poll_seconds: float = 2.0,
                 wait_seconds: float = 3600.0) -> None:
        self.store, self.client = store, client
        self.poll_seconds, self.wait_seconds = poll_seconds, wait_seconds
        self._wakeups: dict[str, asyncio.Event] = {}

    async def request(self, state: State, base_image: str | None = None) -> str:
        """The build id for this run's environment (raises the builder's typed error, e.g. ``InvalidInput``).
        ``base_image``: build a container image on it (a docker session), not a virtual environment."""
        cmd = RequestBuild(conda_environment=state.configuration.conda_environment, actor="lifecycle",
                           requested_for=f"studio-{state.session_id}", reason=f"start of run {state.run}",
                           target="image" if base_image else "venv", base_image=base_image)
        meta = CommandMeta(command_id=uuid.uuid5(_NAMESPACE, state.run_key), origin="lifecycle")
        reply = await self.client.send(cmd, meta=meta, timeout=30)
        return str((reply.result or {})["buildId"])

    def notify(self, build_id: str) -> None:
        event = self._wakeups.get(build_id)
        if event is not None:
            event.set()

    async def wait(self, build_id: str) -> Outcome:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_seconds
        wake = self._wakeups.setdefault(build_id, asyncio.Event())
        try:
            while True:
                wake.clear()
                outcome = await self.outcome(build_id)
                if outcome is not None:
                    return outcome
                left = deadline - loop.time()
                if left <= 0:
                    return Outcome(build_id, False, f"the build did not finish within {self.wait_seconds:.0f}s")
                try:
                    await asyncio.wait_for(wake.wait(), min(self.poll_seconds, left))
                except TimeoutError:
                    pass
        finally:
            self._wakeups.pop(build_id, None)

    async def outcome(self, build_id: str) -> Outcome | None:
        """The latest attempt's outcome, or None while it is queued or running."""
        records = await self.store.read_stream(contract.stream_name(build_id))
        if not records:
            return Outcome(build_id, False, f"no build {build_id}")
        last = registry.load(records[-1].event_type, records[-1].schema_version, records[-1].data)
        if isinstance(last, contract.BuildSucceeded):
            image = contract.image_reference(last.artifact)
            if image is not None:
                return Outcome(build_id, True, image=image, duration_seconds=last.duration_seconds)
            path = Path(urlparse(last.artifact.uri).path)
            return Outcome(build_id, True, python_env=path, duration_seconds=last.duration_seconds)
        if isinstance(last, contract.BuildFailed):
            return Outcome(build_id, False, last.message)
        if isinstance(last, contract.BuildCancelled):
            return Outcome(build_id, False, f"the build was cancelled{': ' + last.reason if last.reason else ''}")
        return None
