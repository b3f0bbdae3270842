"""A run's checkpoints, as lifecycle sees them: it asks the checkpoints service and waits for the answer.

At start (the progress step ``Restoring checkpoint``, after the workspace folder is provisioned and before the tool
launches) the studio's latest good checkpoint, or for a new clone the checkpoint it was created from, is restored
into the workspace, and the run's own checkpoint is taken from it. At stop, once the tool has exited and before
the run is recorded stopped, the checkpoint is finalized. Mounted data links are excluded.

Without a checkpoints service answering (not deployed, or down), a start goes on without a restore and says so
in the step's detail; a failed restore (a damaged checkpoint) fails the start, naming the checkpoint.
"""

from __future__ import annotations

import logging
from pathlib import PurePath

from libs.bus.commands import CommandClient
from libs.bus.heartbeats import ResponderLost
from libs.contracts.checkpoint import SaveKind
from libs.contracts.checkpoint_commands import RestoreCheckpoint, SaveCheckpoint
from libs.contracts.commands import Command, CommandMeta, Reply
from libs.contracts.errors import StudiosError, Unavailable
from libs.contracts.studio_state import State
from libs.platform.clock import now as utcnow
from services.lifecycle.sessions.provisioning import Provisioner, ProvisioningError

log = logging.getLogger("studios.lifecycle.checkpointing")
STEP = "Restoring checkpoint"
ACTOR = "lifecycle"


class Checkpointing:
    def __init__(self, client: CommandClient, provisioner: Provisioner, timeout: float = 3600.0,
                 heartbeat: float = 5.0, attempts: int = 3) -> None:
        self.client, self.provisioner, self.timeout = client, provisioner, timeout
        #: a checkpoints replica killed while it holds the command is noticed after three missed heartbeats,
        #: and the command goes again (same command id) to another one, ``attempts`` times in all
        self.heartbeat, self.attempts = heartbeat, attempts

    async def exclude(self, state: State) -> tuple[str, ...]:
        """Where the run's data links are mounted, relative to the workspace: never saved, never cleared."""
        ws = self.provisioner.workspace(state)
        try:
            links = await self.provisioner.data_links(state)
        except ProvisioningError:
            return ("data",) if state.configuration.mount_data else ()
        return tuple(str(PurePath(target).relative_to(ws)) for _, target in links)

    async def restore(self, state: State) -> str:
        """Restore, then take the run's first checkpoint; returns the step's detail line."""
        ws, exclude = str(self.provisioner.workspace(state)), await self.exclude(state)
        parent = state.parent_checkpoint_id or ""
        initial = int(parent) if parent.isdigit() else None
        try:
            reply = await self._send(RestoreCheckpoint(
                session_id=state.session_id, now=utcnow(), actor=ACTOR, run=state.run, workspace=ws,
                initial_checkpoint_id=initial, exclude=exclude))
            restored = (reply.result or {}).get("checkpointId")
            await self._send(self._save(state, SaveKind.START, ws, exclude, restored))
        except Unavailable as e:
            log.warning("studio %s run %s starts without its checkpoint: %s", state.session_id, state.run, e)
            return f"not restored: {e}"
        result = reply.result or {}
        if restored is None:
            return "nothing to restore"
        return f"restored {result.get('checkpointName')} ({result.get('files')} files, {result.get('size')} bytes)"

    async def finalize(self, state: State) -> None:
        """The run's last save; a failure is logged and recorded by the checkpoints service, never blocks a stop."""
        ws = str(self.provisioner.workspace(state))
        try:
            await self._send(self._save(state, SaveKind.FINAL, ws, await self.exclude(state), None))
        except StudiosError as e:
            log.warning("final checkpoint of studio %s run %s: %s", state.session_id, state.run, e)

    async def _send(self, command: Command) -> Reply:
        """A typed error from the service as it is; a transport failure (the broker already stopped during a
        restart's drain, a lost connection) as ``Unavailable``."""
        meta = CommandMeta()  # one id for every attempt: what a dead replica recorded is not recorded twice
        try:
            for attempt in range(1, self.attempts + 1):
                try:
                    return await self.client.send(command, timeout=self.timeout, meta=meta,
                                                  heartbeat=self.heartbeat)
                except ResponderLost as e:
                    if attempt == self.attempts:
                        raise
                    log.warning("%s: %s; sending it again", command.name, e)
        except StudiosError:
            raise
        except Exception as e:
            raise Unavailable(f"the checkpoints service cannot be reached ({type(e).__name__}: {e})") from None
        raise AssertionError("unreachable")

    def _save(self, state: State, kind: SaveKind, ws: str, exclude: tuple[str, ...],
              restored: int | None) -> SaveCheckpoint:
        return SaveCheckpoint(session_id=state.session_id, now=utcnow(), actor=ACTOR, run=state.run, kind=kind,
                              workspace=ws, workspace_id=state.workspace_id, author_id=state.user_id,
                              exclude=exclude, restored_from=restored)
