"""Commands over NATS request/reply with FastStream subscribers in a queue group per service."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import ClassVar

import nats
import pytest

from libs.bus import CommandClient, CommandServer, make_broker
from libs.bus.broker import StudiosBroker
from libs.contracts import Command, Conflict, InvalidInput, Reply, StudiosError, Unavailable
from libs.contracts.commands import CommandMeta
from libs.contracts.subjects import command_subject

SERVICE = f"t{uuid.uuid4().hex[:8]}"


class RenameThing(Command):
    service: ClassVar[str] = SERVICE
    name: ClassVar[str] = "RenameThing"
    thing_id: str
    new_name: str


class RenameThingV0(Command):
    """What an outdated client sends: a field the server no longer knows, one missing."""

    service: ClassVar[str] = SERVICE
    name: ClassVar[str] = "RenameThing"
    thing_id: str
    title: str


class Explode(Command):
    service: ClassVar[str] = SERVICE
    name: ClassVar[str] = "Explode"


class Nobody(Command):
    service: ClassVar[str] = f"{SERVICE}-absent"
    name: ClassVar[str] = "Anything"


def _server(nats_url: str, handled: list[tuple[int, str]], instance: int,
            seen: list[CommandMeta]) -> StudiosBroker:
    broker = make_broker(nats_url, name=f"test-{instance}", quiet=True)
    server = CommandServer(broker, SERVICE)

    @server.handle(RenameThing)
    async def rename(cmd: RenameThing, meta: CommandMeta) -> Reply:
        handled.append((instance, cmd.thing_id))
        seen.append(meta)
        if cmd.new_name == "taken":
            raise Conflict("name taken", name=cmd.new_name)
        return Reply(position=42, result={"name": cmd.new_name})

    @server.handle(Explode)
    async def explode(cmd: Explode, meta: CommandMeta) -> dict[str, str]:
        raise RuntimeError("secret internals")

    return broker


SEEN: list[CommandMeta] = []


@pytest.fixture
async def servers(nats_url: str) -> AsyncIterator[list[tuple[int, str]]]:
    handled: list[tuple[int, str]] = []
    SEEN.clear()
    brokers = [_server(nats_url, handled, i, SEEN) for i in range(2)]
    for b in brokers:
        await b.start()
    try:
        yield handled
    finally:
        for b in brokers:
            await b.stop()


@pytest.fixture
async def client(nats_url: str) -> AsyncIterator[CommandClient]:
    nc = await nats.connect(nats_url)
    try:
        yield CommandClient(nc, timeout=5)
    finally:
        await nc.drain()


async def test_reply_carries_the_position(servers: list[tuple[int, str]], client: CommandClient) -> None:
    reply = await client.send(RenameThing(thing_id="a", new_name="b"))
    assert reply.ok and reply.position == 42 and reply.result == {"name": "b"}


async def test_a_typed_error_reaches_the_client(servers: list[tuple[int, str]], client: CommandClient) -> None:
    with pytest.raises(Conflict) as caught:
        await client.send(RenameThing(thing_id="a", new_name="taken"))
    assert caught.value.detail == "name taken" and caught.value.extra == {"name": "taken"}


async def test_invalid_input(servers: list[tuple[int, str]], client: CommandClient) -> None:
    with pytest.raises(InvalidInput) as caught:
        await client.send(RenameThingV0(thing_id="a", title="b"))
    locs = {tuple(e["loc"]) for e in caught.value.extra["errors"]}
    assert locs == {("new_name",), ("title",)}
    raw = await client.nc.request(command_subject(SERVICE, "RenameThing"), b"{not json", timeout=5)
    assert json.loads(raw.data)["error"]["code"] == "invalid"
    assert servers == []


async def test_an_unexpected_failure_is_a_500_without_details(servers: list[tuple[int, str]],
                                                              client: CommandClient) -> None:
    with pytest.raises(StudiosError) as caught:
        await client.send(Explode())
    assert type(caught.value) is StudiosError and caught.value.status == 500
    assert "secret" not in caught.value.detail


async def test_no_responder_is_unavailable(client: CommandClient) -> None:
    with pytest.raises(Unavailable):
        await client.send(Nobody())


async def test_a_queue_group_handles_each_request_once(servers: list[tuple[int, str]],
                                                       nats_url: str) -> None:
    broker = make_broker(nats_url, name="client", quiet=True)
    await broker.connect()
    try:
        client = CommandClient(broker)
        ids = [str(i) for i in range(40)]
        await asyncio.gather(*(client.send(RenameThing(thing_id=i, new_name="n")) for i in ids))
    finally:
        await broker.stop()
    assert sorted(thing for _, thing in servers) == sorted(ids)
    assert {instance for instance, _ in servers} == {0, 1}


async def test_the_envelope_reaches_the_handler(servers: list[tuple[int, str]], client: CommandClient) -> None:
    meta = CommandMeta(correlation_id="corr-1", origin="gateway",
                       traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    await client.send(RenameThing(thing_id="a", new_name="b"), meta=meta)
    assert SEEN == [meta]


async def test_a_request_without_an_envelope_still_gets_a_command_id(servers: list[tuple[int, str]],
                                                                     client: CommandClient) -> None:
    await client.send(RenameThing(thing_id="a", new_name="b"))
    await client.send(RenameThing(thing_id="a", new_name="b"), headers={"traceparent": "not-a-trace"})
    first, second = SEEN
    assert first.command_id != second.command_id
    assert second.traceparent is None and first.correlation_id is None
