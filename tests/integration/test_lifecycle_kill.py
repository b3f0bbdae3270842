"""Kill the lifecycle service with SIGKILL while 20 sessions start: after a restart every studio ends running or
errored with a reason, no session runs twice, and the studios read model equals a rebuild from the store. A
whole-system shutdown then stops every session, recorded as ``SHUTDOWN``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import nats
import psutil
import pytest

from libs.bus.commands import CommandClient
from libs.contracts.studio import ProgressStatus, StopReason, StudioStatus, stream_name
from libs.contracts.studio_state import INITIAL, evolve
from libs.eventstore import EventStore, load
from libs.platform.signals import SYSTEM_SHUTDOWN
from services.gateway.read.projections import base as projections
from services.gateway.read.projections.studios import STUDIOS
from services.gateway.read.schema import GATEWAY
from services.gateway.read.studios import studio as read_studio
from tests.integration.lifecycle_harness import create

pytestmark = pytest.mark.slow
N = 20


def _spawn(database_url: str, nats_url: str, data_dir: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": database_url, "NATS_URL": nats_url, "STUDIOS_DATA_DIR": str(data_dir),
           "STUDIOS_STOP_GRACE_SECONDS": "5", "STUDIOS_RECONCILE_INTERVAL_SECONDS": "1"}
    log = (data_dir / "lifecycle.log").open("ab")
    return subprocess.Popen([sys.executable, "-m", "services.lifecycle"], env=env, stdout=log, stderr=log)


async def _until_serving(nc: nats.NATS, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        assert proc.poll() is None, "lifecycle exited"
        with contextlib.suppress(Exception):
            await nc.request("studios.cmd.lifecycle.delete_studio", b"{}", timeout=0.2)
            return
        await asyncio.sleep(0.05)
    raise AssertionError("lifecycle never answered")


async def _until(condition: Callable[[], Awaitable[bool]], what: str, timeout: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.05)


def _session_processes(ids: set[str]) -> Counter[str]:
    seen: Counter[str] = Counter()
    for p in psutil.process_iter(["pid"]):
        with contextlib.suppress(psutil.Error):
            sid = p.environ().get("STUDIOS_STUDIO_ID")
            if sid in ids and os.getpgid(p.pid) == p.pid and p.status() != psutil.STATUS_ZOMBIE:
                seen[sid] += 1  # a session is a process group: count its leader only
    return seen


async def test_sigkill_while_twenty_sessions_start(database_url: str, nats_url: str, tmp_path: Path) -> None:
    store = await EventStore.connect(database_url, sources=[GATEWAY])
    nc = await nats.connect(nats_url)
    proc = _spawn(database_url, nats_url, tmp_path)
    ids: set[str] = set()
    try:
        await _until_serving(nc, proc)
        client = CommandClient(nc)
        cmds = [create(f"kill-{i}") for i in range(N)]
        ids = {c.session_id for c in cmds}
        await asyncio.gather(*(client.send(c, timeout=20) for c in cmds))

        async def starts_under_way() -> bool:  # the runner has begun on some; others may not have, or be done
            states = [(await load(store, stream_name(sid), evolve, INITIAL))[0] for sid in ids]
            return any(p.status is not ProgressStatus.PENDING for s in states for p in s.progress)

        await _until(starts_under_way, "the runner began the starts")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

        proc = _spawn(database_url, nats_url, tmp_path)
        await _until_serving(nc, proc)
        states = {}
        for sid in ids:
            for _ in range(600):
                state = (await load(store, stream_name(sid), evolve, INITIAL))[0]
                if state.status in (StudioStatus.RUNNING, StudioStatus.ERRORED):
                    break
                await asyncio.sleep(0.1)
            states[sid] = state
        assert all(s.status in (StudioStatus.RUNNING, StudioStatus.ERRORED) for s in states.values()), \
            {k: (s.status, s.status_message) for k, s in states.items()}
        assert all(s.status_message for s in states.values() if s.status is StudioStatus.ERRORED)
        running = {k for k, s in states.items() if s.status is StudioStatus.RUNNING}

        async def one_process_per_running_session() -> bool:
            counts = _session_processes(ids)
            return set(counts) == running and all(n == 1 for n in counts.values())

        await _until(one_process_per_running_session, f"one process per running session: {_session_processes(ids)}")

        # the read model, projected live-style, equals the fold of every stream (a rebuild from the store)
        await projections.subscription(store, STUDIOS, await projections.active_version(store.pool, STUDIOS.name)
                                       ).catch_up()
        for sid in ids:
            projected = await read_studio(store.pool, sid)
            folded = (await load(store, stream_name(sid), evolve, INITIAL))[0]
            assert projected is not None and projected.model_dump() == folded.model_dump()
        proc.send_signal(SYSTEM_SHUTDOWN)  # what `studios up` sends lifecycle when it stops
        assert proc.wait(60) == 0
        for sid in running:
            state = (await load(store, stream_name(sid), evolve, INITIAL))[0]
            assert state.status is StudioStatus.STOPPED and state.stop_reason is StopReason.SHUTDOWN, sid
    finally:
        if proc.poll() is None:
            proc.send_signal(SYSTEM_SHUTDOWN)
            proc.wait(60)
        await nc.close()
        await store.close()
    assert not _session_processes(ids), "sessions survived the whole-system shutdown"
