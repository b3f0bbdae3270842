"""Lifecycle's checkpoint requests survive a checkpoints replica killed while it holds one: the restore a start
waits for is noticed lost after a few missed heartbeats and goes, with the same command id, to the replica that is
left, instead of holding the start for the command's whole timeout (an hour)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from nats.aio.client import Client
from nats.aio.msg import Msg

from libs.bus import CommandClient, CommandServer, make_broker
from libs.bus.commands import queue_group
from libs.bus.headers import COMMAND_ID
from libs.contracts.checkpoint_commands import RestoreCheckpoint, SaveCheckpoint
from libs.contracts.commands import CommandMeta, Reply
from libs.contracts.subjects import command_subject
from libs.eventstore import EventStore
from services.lifecycle.handlers import StudioHandlers
from services.lifecycle.sessions.checkpointing import Checkpointing
from services.lifecycle.sessions.provisioning import Provisioner
from tests.integration.lifecycle_harness import create

KEY = b"k" * 32


async def test_a_restore_held_by_a_killed_checkpoints_replica_goes_to_the_other_with_its_command_id(
        nats_url: str, nc: Client, store: EventStore, tmp_path: Path) -> None:
    taken: list[Msg] = []
    took = asyncio.Event()

    async def dies_holding_it(msg: Msg) -> None:  # takes the restore, then is SIGKILLed: no reply, no heartbeat
        taken.append(msg)
        took.set()

    sub = await nc.subscribe(command_subject("checkpoints", RestoreCheckpoint.name), queue=queue_group("checkpoints"),
                             cb=dies_holding_it)
    await sub.unsubscribe(limit=1)

    handlers = StudioHandlers(store)
    cmd = create("restore-lost")
    await handlers.handle(cmd)
    state = await handlers.state(cmd.session_id)
    checkpointing = Checkpointing(CommandClient(nc), Provisioner(store, tmp_path, KEY), heartbeat=0.2)
    restoring = asyncio.ensure_future(checkpointing.restore(state))
    await asyncio.wait_for(took.wait(), 30)

    # the replica that is left: it restores (nothing to restore here) and takes the run's first save
    seen: list[tuple[str, str]] = []
    broker = make_broker(nats_url, name="checkpoints-left", quiet=True)
    server = CommandServer(broker, "checkpoints")

    @server.handle(RestoreCheckpoint)
    async def restore(c: RestoreCheckpoint, meta: CommandMeta) -> Reply:
        seen.append((c.name, str(meta.command_id)))
        return Reply(result={"checkpointId": None})

    @server.handle(SaveCheckpoint)
    async def save(c: SaveCheckpoint, meta: CommandMeta) -> Reply:
        seen.append((c.name, str(meta.command_id)))
        return Reply(result={"checkpointId": 1})

    await broker.start()
    try:
        detail = await asyncio.wait_for(restoring, 60)  # far below the hour a lost request would wait
    finally:
        await broker.stop()
    assert detail == "nothing to restore"
    first_id = (taken[0].headers or {})[COMMAND_ID]
    assert seen[0] == (RestoreCheckpoint.name, first_id)  # the same command, sent again
    assert [name for name, _ in seen] == [RestoreCheckpoint.name, SaveCheckpoint.name]


async def test_a_final_save_while_the_broker_is_already_stopped_is_given_up_not_raised(
        nats_url: str, store: EventStore, tmp_path: Path) -> None:
    # a whole-system shutdown: lifecycle's broker stopped before its sessions' stops finalize their checkpoints
    handlers = StudioHandlers(store)
    cmd = create("finalize-after-broker")
    await handlers.handle(cmd)
    stopped = make_broker(nats_url, name="never-connected", quiet=True)
    checkpointing = Checkpointing(CommandClient(stopped), Provisioner(store, tmp_path, KEY), heartbeat=0.2)
    await checkpointing.finalize(await handlers.state(cmd.session_id))  # logged, never raised: the stop goes on
