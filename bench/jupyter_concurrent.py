"""``jupyter_<n>_concurrent_cpu1`` (a step of ``bench.lifecycle``): ``n`` JupyterLab studios with ``cpu: 1`` each,
created at once, until every one answers ``GET /connect/<id>/api/status`` through the gateway's proxy; beside ``n``
bare JupyterLab processes launched at once until each answers (the CPU floor: ``n`` JupyterLab starts on this
machine's cores, with no control plane and no limits). Then each run's recorded usage (``StudioSessionStopped``
in the history: peak memory, cpu millicores), and which limits enforcement the launch step reported."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import statistics
import time
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from bench.system import Figures, System

WS = {"workspaceId": 1}
JUPYTER = "studios/jupyter:4"
POLL = 0.1


async def _create(c: httpx.AsyncClient, cpu: int) -> str | None:
    r = await c.post("/studios", params={**WS, "autoStart": "true"},
                     json={"name": f"bench-lab-{secrets.token_hex(4)}", "computeEnvId": "local",
                           "dataStudioToolUrl": JUPYTER, "configuration": {"cpu": cpu, "memory": 2048}})
    return str(r.json()["studio"]["sessionId"]) if r.status_code == 200 else None


async def _answers(c: httpx.AsyncClient, sid: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return (await c.get(f"/connect/{sid}/api/status", timeout=10)).status_code == 200
    return False


async def _until_all_answer(c: httpx.AsyncClient, sids: list[str], t0: float, timeout: float) -> dict[str, float]:
    answered: dict[str, float] = {}
    while len(answered) < len(sids) and time.perf_counter() - t0 < timeout:
        pending = [s for s in sids if s not in answered]
        for sid, ok in zip(pending, await asyncio.gather(*(_answers(c, s) for s in pending)), strict=True):
            if ok:
                answered[sid] = time.perf_counter() - t0
        await asyncio.sleep(POLL)
    return answered


async def _bare(system: System, n: int, timeout: float) -> tuple[float, int]:
    from bench.bare import spawn_bare, until_answers

    bares = []
    async with httpx.AsyncClient(trust_env=False) as probe:
        t0 = time.perf_counter()
        try:
            bares = [spawn_bare("jupyter", system.root) for _ in range(n)]
            done = await asyncio.gather(*(until_answers(probe, b, t0, timeout) for b in bares),
                                        return_exceptions=True)
        finally:
            await asyncio.gather(*(asyncio.to_thread(b.stop) for b in bares))
    ok = [d for d in done if isinstance(d, float)]
    return (max(ok) if len(ok) == n else time.perf_counter() - t0), len(ok)


def _usages(history: list[dict[str, Any]]) -> list[dict[str, int]]:
    return [e["data"]["usage"] for e in history
            if e.get("eventType", e.get("type")) == "StudioSessionStopped" and (e.get("data") or {}).get("usage")]


async def jupyter_concurrent(system: System, figures: Figures, n: int, timeout: float = 300) -> None:
    name = f"jupyter_{n}_concurrent_cpu1"
    async with system.client(timeout=120) as c:
        t0 = time.perf_counter()
        created = await asyncio.gather(*(_create(c, 1) for _ in range(n)))
        sids = [s for s in created if s]
        answered = await _until_all_answer(c, sids, t0, timeout)
        wall = max(answered.values()) if len(answered) == n else time.perf_counter() - t0
        details = set()
        for sid in sids[:3]:
            dto = (await c.get(f"/studios/{sid}", params=WS)).json()
            details |= {p.get("detail") for p in dto.get("progress", [])
                        if (p.get("detail") or "").startswith("limits")}
        await asyncio.gather(*(c.put(f"/studios/{sid}/stop", params=WS) for sid in sids))
        usages: list[dict[str, int]] = []
        for sid in sids:
            deadline = time.perf_counter() + 60
            while time.perf_counter() < deadline:
                found = _usages((await c.get(f"/studios/{sid}/history", params=WS)).json()["events"])
                if found:
                    usages += found[-1:]
                    break
                await asyncio.sleep(0.5)
    bare_wall, bare_ok = await _bare(system, n, timeout)
    figures.report(f"{name}_all_answering_via_proxy", wall, bare_wall)
    figures.outcome(f"{name}_outcome: created={len(sids)}/{n} answering via proxy={len(answered)}/{n}; "
                    f"bare answered={bare_ok}/{n}")
    figures.note(f"{name}: enforcement {sorted(d for d in details if d)}")
    if usages:
        def med(key: str) -> float:
            return statistics.median(u[key] for u in usages)

        figures.note(f"{name}: recorded usage per run (median of {len(usages)}): peak memory "
                     f"{med('peak_memory_mb'):.0f} MB, cpu avg {med('avg_cpu_millicores'):.0f} m, "
                     f"peak {med('peak_cpu_millicores'):.0f} m (max peak "
                     f"{max(u['peak_cpu_millicores'] for u in usages)} m)")
    else:
        figures.note(f"{name}: no usage recorded in the stop events")
