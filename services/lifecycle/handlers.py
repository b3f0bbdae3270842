"""Command handlers: glue between a command (from NATS or the session runner) and the studio aggregate.

Every command is re-stamped with this service's clock (the domain has no clock, and the sender's may be off),
executed with the expected version, and answered with the appended global position so the gateway can offer
read-your-writes. Name reservations are appended in the same transaction as the studio's events.

The command's envelope (``CommandMeta``, from the request headers) gives its id and trace: the events it decides
get ids derived from the command id and carry the envelope in their metadata. A command id that already decided
something is answered with that first result before anything is resolved, reserved or decided again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from libs.contracts.commands import CommandMeta, Reply, fingerprint
from libs.contracts.errors import InvalidInput
from libs.contracts.events import Event
from libs.contracts.studio import stream_name
from libs.eventstore import AppendRequest, EventStore, StateCache, execute, load
from libs.eventstore.execute import previous
from libs.platform.clock import Clock
from libs.platform.clock import now as utcnow  # the one clock, under the name the sessions package imports
from services.lifecycle import reservations
from services.lifecycle.sessions.provisioning import ProvisioningError, resolve_commit
from services.lifecycle.studio import rules
from services.lifecycle.studio.aggregate import (
    INITIAL,
    CreateStudio,
    State,
    StudioCommand,
    UpdateStudio,
    decide,
    evolve,
)

log = logging.getLogger("studios.lifecycle.handlers")


class StudioHandlers:
    def __init__(self, store: EventStore, clock: Clock = utcnow, source: str = "lifecycle") -> None:
        self.store = store
        self.clock = clock
        self.source = source
        # Studio streams grow with every progress step and connection: fold each only from where it was.
        self.cache = StateCache(size=5000)
        self._traces: dict[tuple[str, int], tuple[str | None, str | None]] = {}

    async def state(self, session_id: str) -> State:
        state, _ = await load(self.store, stream_name(session_id), evolve, INITIAL, cache=self.cache)
        return state

    async def handle(self, command: StudioCommand, meta: CommandMeta | None = None) -> Reply:
        """``meta``: the envelope of a command that came over the bus; None for this service's own commands (the
        runner's, the reconciler's), which take the trace of the run they are about and can never be repeats."""
        sent = meta is not None
        meta = meta or await self._run_trace(command)
        metadata: dict[str, Any] = meta.event_metadata(actor=command.actor, source=self.source,
                                                       fingerprint=_fingerprint(command) if sent else None)
        metadata["command"] = command.name
        command = command.model_copy(update={"now": self.clock()})
        also = None
        if not sent or await previous(self.store, meta.command_id) is None:  # a repeat needs no commit or name
            if isinstance(command, CreateStudio):
                command = await _pinned(command)
            also = await self._reservations(command)
        # An own command's fresh id has nothing to find: its events keep time-ordered ids (cheaper to index).
        done = await execute(self.store, stream_name(command.session_id), command, decide, evolve, INITIAL,
                             metadata=metadata, command_id=meta.command_id if sent else None, also=also,
                             cache=self.cache)
        state = done.state
        return Reply(position=done.position, result={
            "sessionId": state.session_id, "status": state.status.value if state.status else None,
            "run": state.run, "events": [e.event_type for e in done.events], "repeated": done.repeated})

    async def _run_trace(self, command: StudioCommand) -> CommandMeta:
        """A fresh command id with the correlation id and traceparent of the request that started the run (its
        ``StudioStartRequested``), so a start's progress, running and stop events trace back to it. Looked up
        once per run."""
        run = getattr(command, "run", None)
        if run is None:
            return CommandMeta()
        key = (command.session_id, int(run))
        trace = self._traces.get(key)
        if trace is None:
            row = await self.store.pool.fetchrow(_RUN_TRACE, stream_name(command.session_id), int(run))
            trace = (row["correlation_id"], row["traceparent"]) if row else (None, None)
            if len(self._traces) >= 5000:
                self._traces.clear()  # runs are short-lived; a miss costs one indexed read
            self._traces[key] = trace
        return CommandMeta(correlation_id=trace[0], traceparent=trace[1])

    async def _reservations(self, command: StudioCommand) -> Callable[[State, Sequence[Event]], list[AppendRequest]]:
        """The name appends that go with this command, decided before the studio's own (they need a read)."""
        now = command.now
        if isinstance(command, CreateStudio):
            req = await reservations.reserve(self.store, command.workspace_id, command.studio_name,
                                             command.session_id, now)
            return lambda state, events: [req] if events and req else []
        if isinstance(command, UpdateStudio) and command.studio_name:
            state = await self.state(command.session_id)
            if rules.takes_new_name(state, command.studio_name):
                req = await reservations.reserve(self.store, state.workspace_id, command.studio_name,
                                                 command.session_id, now)
                return lambda s, events: _renamed(s, events, req, now)
        return lambda s, events: _released_on_delete(s, events, now)


_RUN_TRACE = """SELECT metadata->>'correlation_id' AS correlation_id, metadata->>'traceparent' AS traceparent
  FROM es.events WHERE stream_name = $1 AND event_type = 'StudioStartRequested' AND (data->>'run')::bigint = $2
 ORDER BY stream_position DESC LIMIT 1"""


def _fingerprint(command: StudioCommand) -> str:
    """What a retry must repeat. A create's session id is left out: the gateway draws another one when the first
    is taken, and a retry of that create is still the same request."""
    return fingerprint(command, ("now", "session_id") if isinstance(command, CreateStudio) else ("now",))


async def _pinned(command: CreateStudio) -> CreateStudio:
    """Resolve the repository's revision to a commit now, before anything is appended (a network call may not
    sit inside a transaction), so every later start clones exactly what the creator saw."""
    rc = command.remote_config
    if rc is None or rc.commit_id:
        return command
    try:
        commit = await resolve_commit(rc.repository, rc.revision)
    except ProvisioningError as e:
        raise InvalidInput(f"remoteConfig: {e}", field="remoteConfig") from None
    return command.model_copy(update={"remote_config": rc.model_copy(update={"commit_id": commit})})


def _renamed(state: State, events: Sequence[Event], reservation: AppendRequest | None,
             now: datetime) -> list[AppendRequest]:
    if not rules.renamed(events):
        return []
    release = reservations.release(state.workspace_id, state.name, state.session_id, now)
    return [reservation, release] if reservation else [release]


def _released_on_delete(state: State, events: Sequence[Event], now: datetime) -> list[AppendRequest]:
    if rules.deleted(events):
        return [reservations.release(state.workspace_id, state.name, state.session_id, now)]
    return []
