"""The builder, each figure beside its baseline in the same run, offline (hand-written wheels in a local folder):

- cold build of a small spec (six packages, empty caches): the builder, request to ``BuildSucceeded``, beside
  ``python -m venv && pip install`` and ``uv venv && uv pip install`` run by hand;
- warm build (one package changed, caches warm): the same three;
- cache hit (the same spec again): request to the ``succeeded`` answer, beside the warm build (target < 50 ms).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import nats

from bench.common import infrastructure, scratch_database
from libs.bus.commands import CommandClient
from libs.bus.streams import Topology, delete_streams
from libs.contracts.build_commands import RequestBuild
from libs.eventstore import EventStore
from libs.platform.signals import Stop
from libs.testing.wheels import write_wheel
from services.builder import main as builder
from services.builder.environments.uv import uv_binary
from services.builder.settings import BuilderSettings

PACKAGES = ("alpha", "bravo", "charlie", "delta", "echo")


def wheels(folder: Path) -> Path:
    for name in PACKAGES:
        write_wheel(folder, name, "1.0", body="DATA = " + repr("x" * 200_000) + "\n")  # ~200 kB each
    write_wheel(folder, "tinypkg", "1.0")
    write_wheel(folder, "tinypkg", "2.0")
    return folder


def spec(tiny: str) -> tuple[str, ...]:
    return (*PACKAGES, f"tinypkg=={tiny}")


async def _run(*argv: str, env: dict[str, str] | None = None) -> None:
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.PIPE, env=env)
    _, err = await proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"{argv[:3]} failed: {err.decode()[-500:]}")


async def by_pip(root: Path, links: Path, reqs: Sequence[str]) -> float:
    t0 = time.perf_counter()
    await _run(sys.executable, "-m", "venv", str(root))
    await _run(str(root / "bin" / "python"), "-m", "pip", "install", "-q", "--no-index", "--find-links", str(links),
               "--disable-pip-version-check", *reqs)
    return time.perf_counter() - t0


async def by_uv(root: Path, links: Path, cache: Path, reqs: Sequence[str]) -> float:
    env = {**os.environ, "UV_CACHE_DIR": str(cache), "UV_PYTHON_DOWNLOADS": "never"}
    uv = uv_binary()
    t0 = time.perf_counter()
    # the same interpreter the builder names (no discovery), so the two differ only by what the builder adds
    await _run(uv, "venv", str(root), "--python", sys.executable, "-q", env=env)
    await _run(uv, "pip", "install", "-q", "--python", str(root / "bin" / "python"), "--no-index", "--find-links",
               str(links), *reqs, env=env)
    return time.perf_counter() - t0


async def ours(client: CommandClient, store: EventStore, reqs: Sequence[str]) -> tuple[float, str]:
    """Request to ``BuildSucceeded`` (read from the store, polled every millisecond)."""
    t0 = time.perf_counter()
    reply = await client.send(RequestBuild(requirements=tuple(reqs), actor="bench"), timeout=120)
    build_id = str((reply.result or {})["buildId"])
    if (reply.result or {}).get("status") == "succeeded":
        return time.perf_counter() - t0, "hit"
    while True:
        last = await store.pool.fetchval("SELECT event_type FROM es.events WHERE stream_name = $1 "
                                         "ORDER BY stream_position DESC LIMIT 1", f"build-{build_id}")
        if last in ("BuildSucceeded", "BuildFailed"):
            assert last == "BuildSucceeded", f"build {build_id} failed"
            return time.perf_counter() - t0, "built"
        await asyncio.sleep(0.001)


def line(name: str, ours_s: float, baselines: dict[str, float]) -> None:
    parts = " ".join(f"{k}={v * 1000:.0f}ms ({v / ours_s:.2f}x ours)" for k, v in baselines.items())
    print(f"{name}: ours={ours_s * 1000:.0f}ms {parts}", flush=True)


async def run(server_url: str, nats_url: str) -> None:
    work = Path(tempfile.mkdtemp(prefix="studios-bench-builder-"))
    links = wheels(work / "wheels")
    topology = Topology.unique("benchb")
    async with scratch_database(server_url) as url:
        settings = BuilderSettings(DATABASE_URL=url, NATS_URL=nats_url, STUDIOS_DATA_DIR=str(work / "data"),
                                   STUDIOS_BUILDER_FIND_LINKS=str(links), STUDIOS_BUILDER_NO_INDEX=True,
                                   STUDIOS_BUILDER_PUBLISH_LOGS=False)
        stop = Stop()
        task = asyncio.create_task(builder.run(settings, stop, topology))
        store = await EventStore.connect(url)
        nc = await nats.connect(nats_url)
        client = CommandClient(nc)
        try:
            for _ in range(300):  # until the builder answers
                try:
                    await client.send(RequestBuild(actor="bench"), timeout=5)
                    break
                except Exception:
                    await asyncio.sleep(0.05)
            cold, _ = await ours(client, store, spec("1.0"))
            line("builder cold build (6 packages, empty caches)", cold, {
                "venv+pip": await by_pip(work / "pip-cold", links, spec("1.0")),
                "uv by hand": await by_uv(work / "uv-cold", links, work / "uv-cache", spec("1.0"))})
            warm, _ = await ours(client, store, spec("2.0"))
            line("builder warm build (one package changed)", warm, {
                "venv+pip": await by_pip(work / "pip-warm", links, spec("2.0")),
                "uv by hand": await by_uv(work / "uv-warm", links, work / "uv-cache", spec("2.0"))})
            hits = []
            for _ in range(20):
                seconds, kind = await ours(client, store, spec("2.0"))
                assert kind == "hit"
                hits.append(seconds)
            hit = statistics.median(hits)
            line("builder cache hit (request to succeeded, median of 20; target < 50 ms)", hit,
                 {"warm build": warm})
        finally:
            stop.set()
            await asyncio.wait_for(task, 60)
            await delete_streams(nc.jetstream(), topology)
            await nc.close()
            await store.close()


def main(argv: Sequence[str] | None = None) -> None:
    with infrastructure() as infra:
        asyncio.run(run(infra.database_url, infra.nats_url))


if __name__ == "__main__":
    main()
