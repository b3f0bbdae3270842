"""The ``studios`` command as users run it: a subprocess against the test session's PostgreSQL and NATS."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from pathlib import Path

import psutil

from libs.eventstore import EventStore, NewEvent
from libs.eventstore import checkpoints as cp
from libs.platform.infra import free_port
from libs.platform.services import runnable
from libs.testing.waiting import wait_for

STUDIOS = [sys.executable, "-m", "libs.platform.cli"]


def env_for(database_url: str, nats_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STUDIOS_")}
    env["DATABASE_URL"] = database_url
    if nats_url:
        env["NATS_URL"] = nats_url
    return env


async def studios(database_url: str, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(*STUDIOS, *args, env=env_for(database_url),
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_events_tail_prints_events_in_commit_order(store: EventStore, database_url: str) -> None:
    await store.append("thing-1", [NewEvent("ThingMade", {"n": 1})])
    await store.append("other-1", [NewEvent("OtherMade", {"n": 2})])
    await store.append("thing-1", [NewEvent("ThingChanged", {"n": 3})])

    code, out, _ = await studios(database_url, "events", "tail", "--no-follow")
    assert code == 0
    lines = [line.split() for line in out.splitlines()]
    assert [(line[1], line[2]) for line in lines] == [
        ("thing-1", "ThingMade"), ("other-1", "OtherMade"), ("thing-1", "ThingChanged")]
    assert lines[0][3] == '{"n":1}'

    code, out, _ = await studios(database_url, "events", "tail", "--no-follow", "--json", "--category", "thing")
    assert code == 0
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["event_type"] for e in events] == ["ThingMade", "ThingChanged"]
    assert events[1]["stream_position"] == 1 and events[1]["data"] == {"n": 3}

    start = events[1]["global_position"]
    code, out, _ = await studios(database_url, "events", "tail", "--no-follow", "--json", "--from", str(start))
    assert [json.loads(line)["event_type"] for line in out.splitlines()] == ["ThingChanged"]


async def test_events_stream_prints_one_streams_history(store: EventStore, database_url: str) -> None:
    await store.append("thing-7", [NewEvent("ThingMade", {"n": 1}), NewEvent("ThingChanged", {"n": [2]})])
    await store.append("other-7", [NewEvent("OtherMade", {})])

    code, out, _ = await studios(database_url, "events", "stream", "thing-7")
    assert code == 0
    assert "ThingMade" in out and "ThingChanged" in out and "OtherMade" not in out
    assert '{"n": [2]}' in out  # brackets survive rich markup

    code, out, _ = await studios(database_url, "events", "stream", "thing-7", "--json")
    assert [json.loads(line)["stream_position"] for line in out.splitlines()] == [0, 1]


async def test_checkpoints_list_pause_resume_reset(store: EventStore, database_url: str) -> None:
    await store.append("thing-1", [NewEvent("ThingMade", {}), NewEvent("ThingChanged", {})])
    [first, second] = await store.read_all()
    async with store.pool.acquire() as conn:
        start = (await cp.load(conn, "projection:things")).position
        await cp.advance(conn, "projection:things", start, second.position)

    async def listed() -> dict[str, object]:
        code, out, _ = await studios(database_url, "checkpoints", "list", "--json")
        assert code == 0
        [row] = [json.loads(line) for line in out.splitlines()]
        return row

    row = await listed()
    assert row["name"] == "projection:things" and row["global_position"] == second.global_position
    assert row["paused"] is False
    code, out, _ = await studios(database_url, "checkpoints", "list")
    assert code == 0 and "projection:things" in out

    assert (await studios(database_url, "checkpoints", "pause", "projection:things"))[0] == 0
    assert (await listed())["paused"] is True
    assert (await studios(database_url, "checkpoints", "resume", "projection:things"))[0] == 0
    assert (await listed())["paused"] is False

    code, _, _ = await studios(database_url, "checkpoints", "reset", "projection:things",
                               "--to-position", str(first.global_position))
    assert code == 0
    assert (await listed())["global_position"] == first.global_position
    assert (await studios(database_url, "checkpoints", "reset", "projection:things"))[0] == 0
    assert (await listed())["global_position"] == 0


async def test_expected_errors_are_one_line_and_a_non_zero_exit(database_url: str) -> None:
    code, _, err = await studios(database_url, "checkpoints", "pause", "nobody")
    assert code == 1 and "no checkpoint named nobody" in err and "Traceback" not in err
    code, _, err = await studios(database_url, "events", "tail", "--no-follow", "--from", "999999")
    assert code == 1 and "no event at global position 999999" in err and "Traceback" not in err
    code, _, err = await studios("postgresql://nobody@127.0.0.1:1/none", "events", "tail", "--no-follow")
    assert code == 1 and "error:" in err and "Traceback" not in err


async def test_asyncapi_lists_the_event_subjects_with_their_schemas(database_url: str, tmp_path: Path) -> None:
    target = tmp_path / "asyncapi.json"
    code, _, err = await studios(database_url, "asyncapi", "--output", str(target))
    assert code == 0, err
    doc = json.loads(target.read_text())
    assert doc["asyncapi"] == "3.0.0"
    addresses = {c["address"] for c in doc["channels"].values()}
    assert "studios.events.studio.StudioCreated" in addresses
    assert "StudioCreated" in doc["components"]["schemas"]


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def test_up_runs_until_sigterm_and_leaves_no_process_behind(database_url: str, nats_url: str,
                                                                  tmp_path: Path) -> None:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        *STUDIOS, "up", "--port", str(port), "--data-dir", str(tmp_path / "data"),
        env=env_for(database_url, nats_url), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    banner: list[str] = []
    try:
        while not any(line.strip().startswith("gateway") for line in banner):
            line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
            assert line, "studios up exited before printing the gateway URL"
            banner.append(line)
        assert f"http://127.0.0.1:{port}" in "".join(banner)
        seen: dict[int, psutil.Process] = {}  # every child seen, a crashed and restarted one included

        def running() -> int:
            now = descendants(proc.pid)
            seen.update((c.pid, c) for c in now)
            return sum(alive(c) for c in now)

        services = len(runnable()[0])  # the services that have a __main__ run as children, all at once
        await wait_for(running, until=lambda n: n >= services, every=0.1, what=f"{services} services running")
        children = list(seen.values())
        token_file = tmp_path / "data" / "admin-token"
        assert token_file.exists() and token_file.stat().st_mode & 0o777 == 0o600
        proc.send_signal(signal.SIGTERM)
        rest, err = await asyncio.wait_for(proc.communicate(), 120)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()[-2000:]
    assert "admin token" in "".join(banner) + rest.decode()
    _, left = await asyncio.to_thread(psutil.wait_procs, children, timeout=5)
    assert [p.pid for p in left if alive(p)] == []


async def test_relay_status_and_replay(store: EventStore, database_url: str, nats_url: str) -> None:
    import nats

    await store.append("thing-1", [NewEvent("ThingMade", {"n": 1}), NewEvent("ThingChanged", {"n": 2})])
    await store.append("other-1", [NewEvent("OtherMade", {})])

    code, out, err = await studios(database_url, "relay", "status", "--json")
    assert code == 0, err
    status = json.loads(out)
    assert status["head"] >= 3 and status["lag"] == 3

    replay_id = f"cli{uuid.uuid4().hex[:8]}"
    proc = await asyncio.create_subprocess_exec(
        *STUDIOS, "replay", "--replay-id", replay_id, "--category", "thing", env=env_for(database_url, nats_url),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out_b, err_b = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err_b.decode()
    assert f"replay {replay_id}: published 2 events" in out_b.decode()

    nc = await nats.connect(nats_url)
    try:
        sub = await nc.jetstream().pull_subscribe(f"studios.replay.{replay_id}.>", durable=None)
        msgs = await sub.fetch(2, timeout=5)
        assert [m.subject for m in msgs] == [f"studios.replay.{replay_id}.thing.ThingMade",
                                             f"studios.replay.{replay_id}.thing.ThingChanged"]
    finally:
        await nc.close()
