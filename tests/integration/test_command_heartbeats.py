"""Long commands with heartbeats (``libs/bus/heartbeats.py``): a replica killed while it holds a command is noticed
by the requester within a few heartbeats, not after the command's whole timeout; a command that is merely long is
never cut off."""

from __future__ import annotations

import asyncio
import uuid
from typing import ClassVar

import pytest
from nats.aio.client import Client

from libs.bus import CommandClient, CommandServer, make_broker
from libs.bus.commands import queue_group
from libs.bus.heartbeats import ResponderLost
from libs.contracts import Command, Reply
from libs.contracts.commands import CommandMeta
from libs.contracts.subjects import command_subject

SERVICE = f"hb{uuid.uuid4().hex[:8]}"
HOUR = 3600.0


class SaveSlowly(Command):
    service: ClassVar[str] = SERVICE
    name: ClassVar[str] = "SaveSlowly"
    seconds: float


async def dead_replica(nc: Client) -> asyncio.Event:
    """A queue-group member that takes one command and dies holding it (SIGKILL: no reply, no error, no beat)."""
    took = asyncio.Event()

    async def take(_msg: object) -> None:
        took.set()

    sub = await nc.subscribe(command_subject(SERVICE, SaveSlowly.name), queue=queue_group(SERVICE), cb=take)
    await sub.unsubscribe(limit=1)
    return took


async def test_a_command_held_by_a_replica_that_died_is_given_up_long_before_its_timeout(nc: Client) -> None:
    took = await dead_replica(nc)
    client = CommandClient(nc)
    with pytest.raises(ResponderLost):
        # bounded far below the command's own timeout (an hour): without heartbeats this waits the hour
        await asyncio.wait_for(client.send(SaveSlowly(seconds=0), timeout=HOUR, heartbeat=0.2), 30)
    assert took.is_set()


async def test_a_long_command_with_heartbeats_gets_its_reply(nats_url: str, nc: Client) -> None:
    broker = make_broker(nats_url, name="heartbeats", quiet=True)
    server = CommandServer(broker, SERVICE)

    @server.handle(SaveSlowly)
    async def save(cmd: SaveSlowly, meta: CommandMeta) -> Reply:
        await asyncio.sleep(cmd.seconds)  # ten heartbeats long: far past the three a requester may miss
        return Reply(result={"saved": True})

    await broker.start()
    try:
        reply = await CommandClient(nc).send(SaveSlowly(seconds=2.0), timeout=60, heartbeat=0.2)
        assert reply.result == {"saved": True}
    finally:
        await broker.stop()
