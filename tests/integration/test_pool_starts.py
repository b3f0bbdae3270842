"""Warm pools in the lifecycle service (real PostgreSQL, NATS and JupyterLab processes): a start takes a pooled
process, many concurrent starts never share one, and the pool refills (docs/pools.md)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import psutil
import pytest

from libs.contracts.studio import StudioStatus
from libs.platform.infra import free_port
from libs.testing.waiting import wait_for
from tests.integration.lifecycle_harness import create, running_lifecycle
from tests.integration.pool_helpers import (
    CONFIG,
    JUPYTER,
    cpu_weight,
    member_record,
    ready_members,
    session_record,
    set_pool,
)

pytestmark = [pytest.mark.jupyter,
              pytest.mark.skipif(importlib.util.find_spec("jupyterlab") is None, reason="jupyter extra missing")]


async def test_a_start_takes_a_pooled_process_the_pool_refills_and_a_dead_member_is_replaced(
        database_url: str, nats_url: str, tmp_path: Path) -> None:
    port = free_port()
    async with running_lifecycle(database_url, nats_url, tmp_path, STUDIOS_LIFECYCLE_METRICS_PORT=port) as lc:
        state_dir = lc.settings.state_dir
        await set_pool(lc.store, 2)
        members = await wait_for(lambda: ready_members(state_dir) if len(ready_members(state_dir)) == 2 else None,
                                 within=180, what="two warm members")
        metrics = (await asyncio.to_thread(httpx.get, f"http://127.0.0.1:{port}/metrics", timeout=10)).text
        assert 'studios_pool_ready{compute_env="local",service="lifecycle",template="studios/jupyter:4"} 2.0' \
            in metrics
        cli = [sys.executable, "-m", "libs.platform.cli", "--data-dir", str(tmp_path), "pools", "--json"]
        shown = (await asyncio.to_thread(subprocess.run, cli, capture_output=True, text=True, check=True)).stdout
        assert {m["id"] for m in json.loads(shown)["pools"][0]["members"]} == {m["id"] for m in members}
        for m in members:  # warming is background work: a tenth of a process's cpu share under contention
            weighed = cpu_weight(member_record(state_dir, m["id"]))
            assert weighed is None or weighed[0] == weighed[1] // 10, weighed
        cmd = create("pooled", template=JUPYTER, configuration=CONFIG)
        await lc.send(cmd)
        state = await lc.wait_status(cmd.session_id, StudioStatus.RUNNING, StudioStatus.ERRORED, timeout=120)
        assert state.status is StudioStatus.RUNNING, state.status_message
        record = session_record(state_dir, state.run_key)
        assert "warm pool" in record["limits"]
        assert int(record["pid"]) in {m["pid"] for m in members}
        # what ``studios pools`` shows no longer lists it as ready, even before the refill's spawn returns
        assert int(record["pid"]) not in {m["pid"] for m in ready_members(state_dir)}
        weighed = cpu_weight(record)  # bound: the studio's own share, as a cold start's group has
        assert weighed is None or weighed[0] == weighed[1] * int(CONFIG.cpu or 1), weighed
        refilled = await wait_for(lambda: ready_members(state_dir) if len(ready_members(state_dir)) == 2 else None,
                                  within=180, what="the pool refilled")
        assert int(record["pid"]) not in {m["pid"] for m in refilled}

        dead = refilled[0]["pid"]
        os.kill(dead, signal.SIGKILL)  # a pooled process dies: it is replaced
        replaced = await wait_for(
            lambda: (r if len(r := ready_members(state_dir)) == 2 and dead not in {m["pid"] for m in r} else None),
            within=180, what="the dead member replaced")
        assert dead not in {m["pid"] for m in replaced}


@pytest.mark.slow
async def test_fifty_concurrent_starts_against_a_pool_of_two(database_url: str, nats_url: str,
                                                             tmp_path: Path) -> None:
    async with running_lifecycle(database_url, nats_url, tmp_path) as lc:
        state_dir = lc.settings.state_dir
        await set_pool(lc.store, 2)
        await wait_for(lambda: len(ready_members(state_dir)) == 2 or None, within=180, what="two warm members")
        cmds = [create(f"many-{i}", template=JUPYTER, configuration=CONFIG) for i in range(50)]
        await asyncio.gather(*(lc.send(c) for c in cmds))
        states = await asyncio.gather(*(lc.wait_status(c.session_id, StudioStatus.RUNNING, StudioStatus.ERRORED,
                                                       timeout=600) for c in cmds))
        assert [s.status for s in states] == [StudioStatus.RUNNING] * 50, \
            [s.status_message for s in states if s.status is not StudioStatus.RUNNING]
        records = [session_record(state_dir, s.run_key) for s in states]
        pids = Counter(int(r["pid"]) for r in records)
        assert all(n == 1 for n in pids.values()) and len(pids) == 50  # no process serves two studios
        pooled = [r for r in records if "warm pool" in r["limits"]]
        assert 2 <= len(pooled) <= 50  # at least the two that were warm; refills may serve later starts too
        refilled = await wait_for(lambda: ready_members(state_dir) if len(ready_members(state_dir)) == 2 else None,
                                  within=300, what="the pool refilled")
        assert not {m["pid"] for m in refilled} & set(pids)  # the refill is new processes, bound to no one


async def test_a_restart_keeps_the_pool_for_the_next_lifecycle_and_a_system_shutdown_reaps_it(
        database_url: str, nats_url: str, tmp_path: Path) -> None:
    async with running_lifecycle(database_url, nats_url, tmp_path, system_shutdown=False) as lc:
        state_dir = lc.settings.state_dir
        await set_pool(lc.store, 2)
        before = await wait_for(lambda: ready_members(state_dir) if len(ready_members(state_dir)) == 2 else None,
                                within=180, what="two warm members")
    pids = {m["pid"] for m in before}
    assert all(psutil.pid_exists(p) for p in pids)  # a restart (SIGTERM) leaves them running
    async with running_lifecycle(database_url, nats_url, tmp_path) as lc:
        after = await wait_for(lambda: ready_members(state_dir) if len(ready_members(state_dir)) == 2 else None,
                               within=180, what="the next lifecycle adopted them")
        assert {m["pid"] for m in after} == pids  # adopted, not replaced
    await wait_for(lambda: not any(_alive(p) for p in pids) or None, within=30, what="the members reaped")


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


async def test_a_restart_leaves_a_pooled_studios_kernels_alone(database_url: str, nats_url: str,
                                                               tmp_path: Path) -> None:
    """A kernel is a process group of its own started by the bound tool: the next lifecycle's recovery must not
    take it for a pooled process (it carries the sessions' backend's marker, not the pool's)."""
    async with running_lifecycle(database_url, nats_url, tmp_path, system_shutdown=False) as lc:
        state_dir = lc.settings.state_dir
        await set_pool(lc.store, 1)
        await wait_for(lambda: len(ready_members(state_dir)) == 1 or None, within=180, what="a warm member")
        cmd = create("kernels", template=JUPYTER, configuration=CONFIG)
        await lc.send(cmd)
        state = await lc.wait_status(cmd.session_id, StudioStatus.RUNNING, StudioStatus.ERRORED, timeout=120)
        assert state.status is StudioStatus.RUNNING, state.status_message
        record = session_record(state_dir, state.run_key)
        assert "warm pool" in record["limits"]
        url = f"http://127.0.0.1:{record['port']}/connect/{cmd.session_id}/api/kernels"
        auth = {"Authorization": f"token {lc.secret(state)}"}
        r = await asyncio.to_thread(httpx.post, url, headers=auth, json={"name": "python3"}, timeout=60)
        assert r.status_code == 201, r.text
        kernels = await wait_for(lambda: [c.pid for c in psutil.Process(int(record["pid"])).children(recursive=True)
                                          if "ipykernel" in " ".join(c.cmdline())] or None,
                                 within=60, what="the kernel process")
    async with running_lifecycle(database_url, nats_url, tmp_path) as lc:
        await wait_for(lambda: len(ready_members(state_dir)) == 1 or None, within=180, what="the pool refilled")
        assert (await lc.state(cmd.session_id)).status is StudioStatus.RUNNING
        assert all(_alive(k) for k in kernels) and _alive(int(record["pid"]))
        r = await asyncio.to_thread(httpx.get, url, headers=auth, timeout=30)
        assert [k["name"] for k in r.json()] == ["python3"]
