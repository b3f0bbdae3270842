"""SIGKILL lifecycle while starts bind pooled processes: afterwards each studio runs with the process it bound, or
that process is back in (or reaped from) the pool and the studio started another way -- never half-bound. The
windows of ``PoolProcesses.bind`` are also cut one by one with the recovery run on them (docs/pools.md)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import nats
import psutil
import pytest

from libs.bus.commands import CommandClient
from libs.contracts.studio import StudioStatus, stream_name
from libs.contracts.studio_state import INITIAL, evolve
from libs.eventstore import AppendRequest, EventStore, load
from libs.eventstore.reservations import reserve
from libs.platform.session_keys import load_or_create_key
from libs.platform.signals import SYSTEM_SHUTDOWN
from libs.testing.waiting import wait_for
from services.lifecycle.backends.base import LaunchSpec
from services.lifecycle.backends.local import LocalBackend
from services.lifecycle.pools.manager import PoolManager
from services.lifecycle.pools.model import PoolClass
from services.lifecycle.pools.processes import PoolProcesses
from tests.integration.lifecycle_harness import create
from tests.integration.pool_helpers import CONFIG, CPU, JUPYTER, MEMORY, pool_status, ready_members, set_pool

pytestmark = [pytest.mark.jupyter, pytest.mark.slow,
              pytest.mark.skipif(importlib.util.find_spec("jupyterlab") is None, reason="jupyter extra missing")]
N = 6


def _spawn(database_url: str, nats_url: str, data_dir: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": database_url, "NATS_URL": nats_url, "STUDIOS_DATA_DIR": str(data_dir),
           "STUDIOS_STOP_GRACE_SECONDS": "5", "STUDIOS_RECONCILE_INTERVAL_SECONDS": "1"}
    log = (data_dir / "lifecycle.log").open("ab")
    return subprocess.Popen([sys.executable, "-m", "services.lifecycle"], env=env, stdout=log, stderr=log)


async def _serving(nc: nats.NATS, proc: subprocess.Popen[bytes]) -> bool | None:
    assert proc.poll() is None, "lifecycle exited"
    try:
        await nc.request("studios.cmd.lifecycle.create_studio", b"{}", timeout=0.2)
        return True
    except Exception:
        return None


async def _claims(store: EventStore) -> dict[str, str]:
    rows = await store.pool.fetch("SELECT stream_name, data FROM es.events WHERE stream_name LIKE 'poolclaim-%'")
    return {r["stream_name"].partition("-")[2]: (json.loads(r["data"]) if isinstance(r["data"], str)
                                                  else r["data"])["owner"] for r in rows}


def _pool_processes(pool_dir: Path) -> list[psutil.Process]:
    """Live group leaders the pool spawned (their environment names the pool's folder), bound or not."""
    found = []
    for p in psutil.process_iter(["pid", "status"]):
        try:
            if p.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(p.pid) == p.pid and \
                    p.environ().get("STUDIOS_BACKEND_DIR") == str(pool_dir.resolve()):
                found.append(p)
        except (psutil.Error, OSError):
            continue
    return found


async def test_sigkill_while_starts_bind_pooled_processes(database_url: str, nats_url: str, tmp_path: Path) -> None:
    store = await EventStore.connect(database_url)
    nc = await nats.connect(nats_url)
    state_dir, pool_dir = tmp_path / "lifecycle", tmp_path / "lifecycle" / "pool"
    proc = _spawn(database_url, nats_url, tmp_path)
    try:
        await wait_for(lambda: _serving(nc, proc), within=60, what="lifecycle answers")
        await set_pool(store, 2)
        members = await wait_for(lambda: ready_members(state_dir) if len(ready_members(state_dir)) == 2 else None,
                                 within=180, what="two warm members")
        member_pids = {m["id"]: m["pid"] for m in members}
        cmds = [create(f"kill-{i}", template=JUPYTER, configuration=CONFIG) for i in range(N)]
        await asyncio.gather(*(CommandClient(nc).send(c, timeout=20) for c in cmds))
        await wait_for(lambda: _claims(store), every=0.001, within=120, what="a start claimed a member")
        proc.send_signal(signal.SIGKILL)  # while that start binds (or just after)
        proc.wait(10)

        proc = _spawn(database_url, nats_url, tmp_path)
        await wait_for(lambda: _serving(nc, proc), within=60, what="lifecycle answers again")
        states = {}
        for c in cmds:
            states[c.session_id] = await wait_for(
                lambda sid=c.session_id: _final(store, sid), within=300, what=f"{c.session_id} settles")
        assert all(s.status is StudioStatus.RUNNING for s in states.values()), \
            {k: (s.status, s.status_message) for k, s in states.items()}
        records = {sid: json.loads((state_dir / "sessions" / f"{s.run_key}.json").read_text())
                   for sid, s in states.items()}
        pids = Counter(int(r["pid"]) for r in records.values())
        assert all(n == 1 for n in pids.values()), pids  # no process serves two studios
        for member, owner in (await _claims(store)).items():
            stream, _, run = owner.partition("/")  # the claim's owner: ``studio-<id>/<run>``
            sid = stream.removeprefix("studio-")
            pid = member_pids.get(member)
            bound = records[sid]["pid"] == pid and str(states[sid].run) == run
            # the claimed process is the studio's, or it is gone (reaped) and the studio runs another process
            assert bound or pid is None or not psutil.pid_exists(pid) or \
                pid not in {p.pid for p in _pool_processes(pool_dir)}, (member, owner)
        ready_now = {m["pid"] for m in ready_members(state_dir)}
        for p in _pool_processes(pool_dir):  # every pooled process is a member, or one studio's
            assert (p.pid in ready_now or p.pid in pids or
                    any(m["pid"] == p.pid for pool in pool_status(state_dir)["pools"] for m in pool["members"])), p
        proc.send_signal(SYSTEM_SHUTDOWN)
        assert proc.wait(90) == 0
        assert not _pool_processes(pool_dir), "pooled processes survived the whole-system shutdown"
    finally:
        if proc.poll() is None:
            proc.send_signal(SYSTEM_SHUTDOWN)
            proc.wait(90)
        await nc.close()
        await store.close()


async def _final(store: EventStore, sid: str) -> object | None:
    state = (await load(store, stream_name(sid), evolve, INITIAL))[0]
    return state if state.status in (StudioStatus.RUNNING, StudioStatus.ERRORED) else None


# -- the windows of a binding, one at a time -------------------------------------------------------------------

CLS = PoolClass("local", JUPYTER.repository, CPU, MEMORY)


async def _one_member(store: EventStore, tmp_path: Path) -> tuple[PoolManager, str]:
    sessions = LocalBackend(tmp_path / "state", grace=5)
    manager = PoolManager(store, PoolProcesses(tmp_path / "state", sessions), load_or_create_key(tmp_path / "key"))
    await manager._spawn(CLS)
    member = next(iter(manager.handles))
    await wait_for(lambda: manager.processes.waiting(member) or None, within=180, what="the member is warm")
    return manager, member


def _spec(tmp_path: Path, run_key: str) -> LaunchSpec:
    sid = run_key.rpartition("-")[0]
    return LaunchSpec(session_id=run_key, studio_id=sid, tool="jupyter", workspace_dir=tmp_path / "ws" / sid,
                      base_path=f"/connect/{sid}/", secret="studio-secret", cpu=CPU, memory_mib=MEMORY)


async def test_killed_after_the_bind_message_but_before_the_record_the_process_is_reaped(
        database_url: str, tmp_path: Path) -> None:
    store = await EventStore.connect(database_url)
    manager, member = await _one_member(store, tmp_path)
    handle = manager.handles[member]
    try:
        await store.append_many([await _claim(store, member)])
        spec = _spec(tmp_path, "s1-1")
        spec.workspace_dir.mkdir(parents=True)
        sessions = manager.processes.sessions
        real_write = sessions.records.write
        sessions.records.write = lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt)  # type: ignore[method-assign]
        with pytest.raises(KeyboardInterrupt):  # the process dies right after step 1 of the binding
            manager.processes.bind(handle, manager.secret(member), spec, 0)
        sessions.records.write = real_write  # type: ignore[method-assign]
        assert manager.processes.alive(handle)

        restarted = PoolManager(store, PoolProcesses(tmp_path / "state", LocalBackend(tmp_path / "state")),
                                load_or_create_key(tmp_path / "key"))
        await restarted.recover()
        assert not manager.processes.alive(handle)  # reaped: it serves no one
        assert not restarted.state.members
        assert await restarted.processes.sessions.list_sessions() == []  # the studio's resumed start finds nothing
    finally:
        await manager.shutdown()
        await store.close()


async def test_killed_after_the_record_the_process_is_the_studios(database_url: str, tmp_path: Path) -> None:
    store = await EventStore.connect(database_url)
    manager, member = await _one_member(store, tmp_path)
    handle = manager.handles[member]
    try:
        await store.append_many([await _claim(store, member)])
        spec = _spec(tmp_path, "s2-1")
        spec.workspace_dir.mkdir(parents=True)
        pool_record = manager.processes.records.path(member).read_text()
        bound = manager.processes.bind(handle, manager.secret(member), spec, 0)
        manager.processes.records.path(member).write_text(pool_record)  # as if killed before step 4

        restarted = PoolManager(store, PoolProcesses(tmp_path / "state", LocalBackend(tmp_path / "state")),
                                load_or_create_key(tmp_path / "key"))
        await restarted.recover()
        assert manager.processes.alive(handle)
        assert not restarted.state.members and not manager.processes.records.exists(member)
        adopted = await restarted.processes.sessions.list_sessions()
        assert [(h.session_id, h.ident) for h in adopted] == [("s2-1", bound.ident)]  # the studio's resumed start
        await restarted.processes.sessions.stop(adopted[0], grace=5)
    finally:
        await manager.shutdown()
        await store.close()


async def _claim(store: EventStore, member: str) -> AppendRequest:
    """The claim a start records before it binds (``PoolManager._take``)."""
    request = await reserve(store, "poolclaim", member, "studio-s/1", datetime.now(UTC), "member")
    assert request is not None
    return request
