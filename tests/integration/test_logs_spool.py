"""The producer when the bus goes away: lines spool to the bounded local file and are published, in order and
once each, when NATS returns; past the spool's bound lines are dropped and one system line says how many.
A private nats-server of its own, stopped and started again on the same port and store."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nats
from nats.aio.client import Client as NATS

from libs.bus.streams import Topology, ensure_streams
from libs.logs import LogLine, LogPublisher, RunLog
from libs.platform.infra import free_port
from libs.testing.waiting import wait_for
from tests.integration.bus_helpers import collect


class Server:
    """nats-server with JetStream in ``directory`` on one port, for stopping and starting again."""

    def __init__(self, directory: Path) -> None:
        binary = Path(sys.executable).parent / "nats-server"
        self.binary = str(binary) if binary.exists() else shutil.which("nats-server") or "nats-server"
        self.directory, self.port = directory, free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen([self.binary, "-js", "-sd", str(self.directory), "-a", "127.0.0.1",
                                      "-p", str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


@contextlib.contextmanager
def server(directory: Path) -> Iterator[Server]:
    s = Server(directory)
    s.start()
    try:
        yield s
    finally:
        s.stop()


async def _connect(url: str) -> NATS:
    return await wait_for(lambda: _try_connect(url), what="nats-server answering")


async def _try_connect(url: str) -> NATS | None:
    try:
        return await nats.connect(url, max_reconnect_attempts=-1, reconnect_time_wait=0.1, connect_timeout=1,
                                  allow_reconnect=True)
    except Exception:
        return None


async def _stored(nc: NATS, topology: Topology) -> list[LogLine]:
    msgs = await collect(nc.jetstream(), topology.logs_stream, f"{topology.logs_prefix}.>")
    return [line for m in msgs for line in LogLine.from_message(m.data)]


async def test_lines_spool_while_the_bus_is_away_and_go_out_in_order_when_it_returns(tmp_path: Path) -> None:
    topology = Topology.unique()
    with server(tmp_path / "js") as srv:
        nc = await _connect(srv.url)
        await ensure_streams(nc.jetstream(), topology)
        pub = LogPublisher(nc.jetstream(), tmp_path / "spool", prefix=topology.logs_prefix, memory_lines=50,
                           ack_timeout=0.5, retry_max=0.2)
        pub.start()
        log = RunLog(pub, "session", "away", 1, first_seq=0)
        log.write("before")
        assert await pub.flush()
        srv.stop()
        for i in range(2000):
            log.write(f"while away {i}")  # never waits: the memory queue fills, the rest spools
        assert pub.spool.size > 0 and pub.dropped == 0
        await wait_for(lambda: pub.failures or None, what="a failed publish while the server is down")
        srv.start()
        assert await pub.flush(60)
        lines = await _stored(nc, topology)
        await pub.close()
        await nc.close()
    assert [x.message for x in lines] == ["before", *(f"while away {i}" for i in range(2000))]


async def test_past_a_full_spool_lines_are_dropped_and_a_system_line_says_how_many(tmp_path: Path) -> None:
    topology = Topology.unique()
    with server(tmp_path / "js") as srv:
        nc = await _connect(srv.url)
        await ensure_streams(nc.jetstream(), topology)
        pub = LogPublisher(nc.jetstream(), tmp_path / "spool", prefix=topology.logs_prefix, memory_lines=10,
                           spool_bytes=20_000, ack_timeout=0.5, retry_max=0.2)
        pub.start()
        srv.stop()
        log = RunLog(pub, "session", "full", 4, first_seq=0)
        for i in range(1000):
            log.write(f"line {i}")
        dropped = pub.dropped
        assert dropped > 0
        srv.start()
        assert await pub.flush(60)
        lines = await _stored(nc, topology)
        await pub.close()
        await nc.close()
    users = [x for x in lines if x.source == "user"]
    assert [x.seq for x in users] == list(range(1000 - dropped))  # the oldest kept, in order, none twice
    notes = [x for x in lines if x.source == "system"]
    assert [x.message for x in notes] == [f"[{dropped} log lines were dropped: the log spool was full while the "
                                          "bus was unreachable]"]
    assert notes[0].run == 4 and notes[0].stream == "stderr"


async def test_lines_offered_from_worker_threads_arrive_complete_and_in_order(tmp_path: Path) -> None:
    """As lifecycle's file followers do: several runs written from worker threads at once reach ``LOGS`` (packed
    as the publisher finds them waiting) each whole, once, in its order."""
    import asyncio

    topology = Topology.unique()
    with server(tmp_path / "js") as srv:
        nc = await _connect(srv.url)
        await ensure_streams(nc.jetstream(), topology)
        pub = LogPublisher(nc.jetstream(), tmp_path / "spool", prefix=topology.logs_prefix)
        pub.start()

        def write(run: int) -> None:
            log = RunLog(pub, "session", f"t{run}", run, first_seq=0)
            for i in range(3000):
                log.write(f"{run}:{i}")

        await asyncio.gather(*(asyncio.to_thread(write, run) for run in range(4)))
        assert await pub.flush(60)
        msgs = await collect(nc.jetstream(), topology.logs_stream, f"{topology.logs_prefix}.>")
        lines = [line for m in msgs for line in LogLine.from_message(m.data)]
        await pub.close()
        await nc.close()
    for run in range(4):
        assert [x.message for x in lines if x.run == run] == [f"{run}:{i}" for i in range(3000)]
