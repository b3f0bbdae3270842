"""Warm pools (docs/pools.md), in ``bench.lifecycle``'s run: JupyterLab create -> first ``GET
/connect/<id>/api/status`` 200 through the proxy, from a pool of 2, beside a cold start and a bare ``jupyter lab``.

Each of ``--pool-samples`` rounds takes, in turn: a pooled start (``POST /studios`` with the pool's class, once
the pool is back to full, so every round measures a hit), a cold start through the same system (a class no pool
keeps: ``cpu: 1``), a bare start of the template's command (``python -m services.lifecycle.tools.lab``, no
``rfc3987_syntax``) and a bare ``python -m jupyterlab`` as shipped. Alternating rounds keep the load the same for
all four. Each studio is stopped and deleted after its sample, outside the timing. Also printed: what each pooled
process holds while it waits (its cgroup's resident memory; RSS and PSS from /proc), and where a pooled start's
time goes (the studio's history).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import statistics
import time
from typing import Any

import httpx

from bench.bare import bare_start_once
from bench.system import JUPYTER, WS, Figures, System, pct, stop_and_delete

POOLED = {"cpu": 2, "memory": 8192}  # the class a plain create asks for (a studio's default configuration)
COLD = {"cpu": 1, "memory": 8192}  # a class no pool keeps
POLL = 0.01


def _status(system: System) -> dict[str, Any]:
    try:  # what lifecycle writes on every pool pass (``studios pools`` shows it)
        return dict(json.loads((system.root / "data" / "lifecycle" / "pool" / "status.json").read_text()))
    except (OSError, ValueError):
        return {"pools": []}


def _ready(system: System) -> list[dict[str, Any]]:
    return [m for p in _status(system)["pools"] for m in p["members"] if m["status"] == "ready"]


async def _until(check: Any, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting until {what}")
        await asyncio.sleep(0.05)


async def create_to_status(c: httpx.AsyncClient, config: dict[str, int], timeout: float = 180) -> tuple[float, str]:
    """Seconds from the POST to the first 200 of the tool's ``/api/status`` through the proxy."""
    t0 = time.perf_counter()
    r = await c.post("/studios", params={**WS, "autoStart": "true"},
                     json={"name": f"pool-{time.time_ns()}", "computeEnvId": "local", "dataStudioToolUrl": JUPYTER,
                           "configuration": config})
    if r.status_code != 200:
        raise RuntimeError(f"POST /studios: {r.status_code} {r.text[:300]}")
    sid = r.json()["studio"]["sessionId"]
    while True:
        answer = await c.get(f"/connect/{sid}/api/status", timeout=10)
        if answer.status_code == 200:
            return time.perf_counter() - t0, sid
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError(f"studio {sid} never answered: {answer.status_code} {answer.text[:200]}")
        await asyncio.sleep(POLL)


def _memory(system: System, figures: Figures) -> None:
    members = [m["memory_bytes"] for m in _ready(system)]
    for key, label in (("cgroup", "cgroup resident"), ("rss", "RSS"), ("pss", "PSS")):
        values = [m[key] / 2**20 for m in members if m.get(key)]
        if values:
            figures.note(f"pooled process while it waits ({len(values)}): {label} median "
                         f"{statistics.median(values):.0f} MiB, max {max(values):.0f} MiB")


async def pool_starts(system: System, figures: Figures, samples: int, size: int = 2) -> None:
    async with system.client() as c:
        r = await c.put("/compute-envs/local/warm-pool",
                        json={"warmPool": {"template": JUPYTER, **POOLED, "size": size}})
        if r.status_code != 200:
            raise RuntimeError(f"PUT warm-pool: {r.status_code} {r.text[:300]}")
        await _until(lambda: len(_ready(system)) == size, f"{size} pooled processes are warm")
        _memory(system, figures)
        pooled: list[float] = []
        cold: list[float] = []
        bare: list[float] = []
        shipped: list[float] = []
        starts: list[list[tuple[str, float]]] = []
        for i in range(samples):
            await _until(lambda: len(_ready(system)) == size, "the pool refilled")
            t0_wall = time.time()
            took, sid = await create_to_status(c, POOLED)
            pooled.append(took)
            history = (await c.get(f"/studios/{sid}/history", params=WS)).json()["events"]
            starts.append([("POST sent", 0.0), *_steps(history, t0_wall), ("/api/status 200", took)])
            await stop_and_delete(c, sid)
            await _until(lambda: len(_ready(system)) == size, "the pool refilled")
            took, sid = await create_to_status(c, COLD)
            cold.append(took)
            await stop_and_delete(c, sid)
            bare.append(await bare_start_once("jupyter", system.root, 180))
            shipped.append(await bare_start_once("jupyter", system.root, 180, module="jupyterlab"))
            print(f"  round {i + 1}: pooled {pooled[-1]:.3f}s, cold {cold[-1]:.3f}s, bare lab {bare[-1]:.3f}s, "
                  f"bare lab as shipped {shipped[-1]:.3f}s", flush=True)
        await c.put("/compute-envs/local/warm-pool", json={"warmPool": {"template": JUPYTER, **POOLED, "size": 0}})
    figures.report("jupyter_pooled_to_status_median", statistics.median(pooled), statistics.median(cold))
    figures.report("jupyter_pooled_to_status_p95", pct(pooled, 95), pct(cold, 95))
    figures.report("jupyter_pooled_vs_bare_median", statistics.median(pooled), statistics.median(bare))
    figures.report("jupyter_cold_vs_bare_median", statistics.median(cold), statistics.median(bare))
    figures.report("jupyter_bare_lean_vs_shipped_median", statistics.median(bare), statistics.median(shipped))
    for name, values in (("pooled (target median < 0.5 s)", pooled), ("cold", cold), ("bare lab", bare),
                         ("bare lab as shipped", shipped)):
        figures.note(f"create->/api/status {name}: median {statistics.median(values):.3f}s, "
                     f"p95 {pct(values, 95):.3f}s")
    _breakdown(starts, figures)


def _steps(history: list[dict[str, Any]], t0_wall: float) -> list[tuple[str, float]]:
    """(label, seconds since the POST) of a start's events, up to the studio running."""
    out = []
    for e in history:
        label = e["eventType"]
        if label == "StudioProgressRecorded":
            label = f"{e['data'].get('step')} [{e['data'].get('status')}]"
        at = dt.datetime.fromisoformat(e["recordedAt"].replace("Z", "+00:00")).timestamp()
        out.append((label, at - t0_wall))
        if e["eventType"] in ("StudioSessionRunning", "StudioStartFailed"):
            break
    return out


def _breakdown(starts: list[list[tuple[str, float]]], figures: Figures) -> None:
    segments: dict[str, list[float]] = {}
    for steps in starts:
        for (a, ta), (b, tb) in itertools.pairwise(steps):
            segments.setdefault(f"{a} -> {b}", []).append(tb - ta)
    for key, values in segments.items():
        figures.note(f"jupyter_pooled step {statistics.median(values) * 1000:7.1f} ms (max {max(values) * 1000:7.1f})"
                     f"  {key}")
