"""Studio lifecycle over the real REST API of ``studios up``, each figure beside a baseline from the same run.

    python -m bench.lifecycle [--samples 20] [--jupyter-samples 3] [--concurrent 50] [--updates 1000]

The whole system is started once, as a newcomer runs it: ``studios up`` in a subprocess, in a temporary data dir,
admin token from ``STUDIOS_ADMIN_TOKEN``, driven over HTTP, stopped with SIGTERM at the end (and checked that
nothing it started is left running). PostgreSQL: a scratch database on ``DATABASE_URL`` when set, else the embedded
server ``studios up`` starts. NATS: always its own, in the data dir (as ``tests/e2e`` do), so its JetStream streams
and durable consumers are fresh.

1. ``http_echo_start``: ``POST /studios`` (autoStart) until the first ``GET /studios/{id}`` (polled every 20 ms)
   shows ``running``; median and p95 of ``--samples``, one at a time, each stopped and deleted after.
   Baseline: the same tool command (``build_command``) spawned directly with the environment it needs, until an
   HTTP GET carrying the secret answers (polled every 10 ms). Where the time goes is read from the studio's
   history (``recordedAt`` of each event): the median of every step, from the POST to the GET that shows it.
2. ``jupyter_start``: the same for ``studios/jupyter:4`` (``--jupyter-samples``; skipped without jupyterlab).
   ``jupyter_<n>_concurrent_cpu1`` (``--jupyter-concurrent``, ``bench/jupyter_concurrent.py``): that many
   JupyterLab studios with ``cpu: 1`` at once until all answer through the proxy, beside as many bare ones.
3. ``http_echo_<n>_concurrent``: ``--concurrent`` creates at once (one ``httpx.AsyncClient``), wall time until all
   are running (the list endpoint polled every 100 ms, from the first POST on), how many ended running vs errored
   (or whose POST failed); baseline: as many bare processes spawned at once until all answer. Then stop-all
   (baseline: SIGTERM to all bare ones until exited).
4. ``update_*``: ``--updates`` times ``PUT /studios/{id}`` with a new description on a stopped studio: the PUT's
   round trip, and PUT sent until a GET shows the description (read-your-writes: the first GET should); baseline:
   a plain ``GET /studios/{id}`` round trip, p50/p99 over as many.
5. ``jupyter_pooled_*`` (``--pool-samples``, ``bench/pools.py``): JupyterLab create -> first ``/api/status`` 200
   through the proxy from a warm pool of 2, beside a cold start and bare starts (the template's lean command and
   ``python -m jupyterlab`` as shipped), in alternating rounds; what a pooled process holds while it waits.

A step that fails prints ``<step>: FAILED ...`` and the next one runs. No figure here is asserted anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import importlib.util
import secrets
import statistics
import sys
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from bench.bare import Bare, bare_start_once, spawn_bare, until_answers
from bench.jupyter_concurrent import jupyter_concurrent
from bench.pools import pool_starts
from bench.system import (
    ECHO,
    FINAL,
    JUPYTER,
    LIST_POLL,
    STUDIO_POLL,
    WS,
    Figures,
    System,
    cleanup_studios,
    create,
    list_statuses,
    pct,
    status_of,
    stop_and_delete,
    studios_up,
    wait_status,
)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.lifecycle", add_help=argv is None and __name__ == "__main__")
    p.add_argument("--samples", type=int, default=20, help="sequential http-echo starts (and bare starts)")
    p.add_argument("--jupyter-samples", type=int, default=3, help="sequential JupyterLab starts (0 skips)")
    p.add_argument("--concurrent", type=int, default=50, help="http-echo studios started at once")
    p.add_argument("--jupyter-concurrent", type=int, default=10,
                   help="JupyterLab studios (cpu: 1 each) started at once, beside as many bare ones (0 skips)")
    p.add_argument("--updates", type=int, default=1000, help="description updates (and plain GETs)")
    p.add_argument("--pool-samples", type=int, default=20,
                   help="JupyterLab rounds from a warm pool of 2, beside cold and bare starts (0 skips)")
    return p.parse_known_args(argv)[0]  # unknown flags belong to other benchmarks (python -m bench)


# ---------------------------------------------------------------------------------------------------- figures


def _ts(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# --------------------------------------------------------------------------------------- sequential starts


@dataclass
class Start:
    total: float  # POST sent → first GET showing running
    post_rtt: float
    milestones: list[tuple[str, float]]  # (label, wall-clock epoch seconds), in order


async def start_once(c: httpx.AsyncClient, tool_url: str, timeout: float) -> Start:
    t0_wall, t0 = time.time(), time.perf_counter()
    r = await create(c, tool_url)
    post_rtt = time.perf_counter() - t0
    if r.status_code != 200:
        raise RuntimeError(f"POST /studios: {r.status_code} {r.text[:300]}")
    sid = r.json()["studio"]["sessionId"]
    try:
        deadline = t0 + timeout
        while True:
            dto = await status_of(c, sid)
            status = dto["statusInfo"]["status"]
            if status == "running":
                total, seen_wall = time.perf_counter() - t0, time.time()
                break
            if status in FINAL or time.perf_counter() > deadline:
                raise RuntimeError(f"studio {sid} ended {status}: {dto['statusInfo'].get('message')}")
            await asyncio.sleep(STUDIO_POLL)
        history = (await c.get(f"/studios/{sid}/history", params=WS)).json()["events"]
    finally:
        await stop_and_delete(c, sid)
    milestones = [("POST sent", t0_wall), *start_milestones(history), ("GET shows running", seen_wall)]
    return Start(total, post_rtt, milestones)


def start_milestones(history: list[dict[str, Any]]) -> list[tuple[str, float]]:
    """(label, recordedAt) of a start's events, from StudioStartRequested up to the outcome."""
    milestones = []
    for e in history:
        if e["eventType"] == "StudioCreated":
            continue
        label = e["eventType"]
        if label == "StudioProgressRecorded":
            label = f"{e['data'].get('step')} [{e['data'].get('status')}]"
        milestones.append((label, _ts(e["recordedAt"])))
        if e["eventType"] in ("StudioSessionRunning", "StudioStartFailed"):
            break
    return milestones


def breakdown(starts: list[Start], figures: Figures, prefix: str) -> None:
    """Median of each step between consecutive milestones, in the order they first appear."""
    segments: dict[str, list[float]] = {}
    for s in starts:
        for (a, ta), (b, tb) in zip(s.milestones, s.milestones[1:], strict=False):
            segments.setdefault(f"{a} -> {b}", []).append(tb - ta)
    print(f"  where the time goes ({prefix}, median and slowest of {len(starts)} starts, from history recordedAt):",
          flush=True)
    for key, values in segments.items():
        figures.note(f"{prefix} step {statistics.median(values) * 1000:7.1f} ms (max {max(values) * 1000:7.1f})  {key}"
                     + ("" if len(values) == len(starts) else f"  (in {len(values)} of {len(starts)})"))


async def sequential_starts(system: System, figures: Figures, tool: str, tool_url: str, samples: int,
                            name: str, timeout: float) -> None:
    async with system.client() as c:
        print("  warm-up start (not counted) ...", flush=True)
        await start_once(c, tool_url, timeout)
        starts: list[Start] = []
        for i in range(samples):
            try:
                s = await start_once(c, tool_url, timeout)
            except Exception as e:  # one bad sample is reported, the rest still count
                print(f"  ours #{i + 1}: FAILED: {e}", flush=True)
                continue
            starts.append(s)
            print(f"  ours #{i + 1}: {s.total:.3f}s (POST answered in {s.post_rtt * 1000:.0f} ms)", flush=True)
    await bare_start_once(tool, system.root, timeout)  # warm-up, not counted
    bare: list[float] = []
    for i in range(samples):
        bare.append(await bare_start_once(tool, system.root, timeout))
        print(f"  bare #{i + 1}: {bare[-1]:.3f}s", flush=True)
    if not starts:
        raise RuntimeError("no studio reached running")
    totals = [s.total for s in starts]
    figures.report(f"{name}_median", statistics.median(totals), statistics.median(bare))
    figures.report(f"{name}_p95", pct(totals, 95), pct(bare, 95))
    figures.note(f"{name}: {len(starts)}/{samples} started; POST /studios round trip median "
                 f"{statistics.median(s.post_rtt for s in starts) * 1000:.0f} ms, "
                 f"p95 {pct([s.post_rtt for s in starts], 95) * 1000:.0f} ms")
    breakdown(starts, figures, name)


# --------------------------------------------------------------------------------------- concurrent starts


async def concurrent_starts(system: System, figures: Figures, n: int) -> None:
    name = f"http_echo_{n}_concurrent"
    async with system.client(timeout=120) as c:
        t0_wall, t0 = time.time(), time.perf_counter()
        # The list is polled while the POSTs are still in flight, so a studio that runs before the last POST
        # has answered is seen when it does.
        posting = asyncio.gather(*(create(c, ECHO) for _ in range(n)), return_exceptions=True)
        running: dict[str, float] = {}
        ended: dict[str, str] = {}
        sids: list[str] = []
        posted: float | None = None
        list_rtt: list[float] = []
        deadline = t0 + 300
        while time.perf_counter() < deadline:
            if posted is None and posting.done():
                posted = time.perf_counter() - t0
                sids = [r.json()["studio"]["sessionId"] for r in posting.result()
                        if isinstance(r, httpx.Response) and r.status_code == 200]
            l0 = time.perf_counter()
            statuses = await list_statuses(c)
            list_rtt.append(time.perf_counter() - l0)
            now = time.perf_counter() - t0
            for sid, st in statuses.items():
                if sid not in ended and st in FINAL:
                    ended[sid] = st
                    if st == "running":
                        running[sid] = now
            if posted is not None and all(sid in ended for sid in sids):
                break
            await asyncio.sleep(LIST_POLL)
        responses = await posting
        if posted is None:
            posted = time.perf_counter() - t0
            sids = [r.json()["studio"]["sessionId"] for r in responses
                    if isinstance(r, httpx.Response) and r.status_code == 200]
        running = {sid: t for sid, t in running.items() if sid in sids}
        ended = {sid: st for sid, st in ended.items() if sid in sids}
        create_failed = n - len(sids)
        for r in responses:
            if not (isinstance(r, httpx.Response) and r.status_code == 200):
                print(f"  create failed: {r if not isinstance(r, httpx.Response) else r.text[:200]}", flush=True)
        wall = max(running.values()) if len(running) == n else time.perf_counter() - t0
        errored = sum(1 for st in ended.values() if st != "running")
        stuck = len(sids) - len(ended)
        # A POST that failed (e.g. the gateway's command timeout) may still have created its studio.
        ghosts = len(set(await list_statuses(c)) - set(sids))
        print(f"  GET /studios (list) round trip while polling: median {statistics.median(list_rtt) * 1000:.0f} ms, "
              f"max {max(list_rtt) * 1000:.0f} ms over {len(list_rtt)} polls", flush=True)
        print(f"  all {n} POSTs answered after {posted:.2f}s", flush=True)
        with contextlib.suppress(Exception):  # where the time went, from each studio's history
            await concurrent_timeline(c, sids, running, t0_wall, figures, name)

        bares: list[Bare] = []
        async with httpx.AsyncClient(trust_env=False, limits=httpx.Limits(max_connections=n + 10)) as probe:
            b0 = time.perf_counter()
            try:
                for _ in range(n):
                    bares.append(spawn_bare("http-echo", system.root))
                answered = await asyncio.gather(*(until_answers(probe, b, b0, 120) for b in bares),
                                                return_exceptions=True)
                bare_ok = [a for a in answered if isinstance(a, float)]
                bare_wall = time.perf_counter() - b0 if len(bare_ok) < n else max(bare_ok)
            finally:
                s0 = time.perf_counter()
                await asyncio.gather(*(asyncio.to_thread(b.stop) for b in bares))
                bare_stop = time.perf_counter() - s0

        label = "all_running" if len(running) == n else "until_settled"
        figures.report(f"{name}_{label}", wall, bare_wall)
        figures.outcome(f"{name}_outcome: running={len(running)} errored={errored} create_failed={create_failed} "
                        f"(of which created anyway={ghosts}) stuck={stuck}; bare answered={len(bare_ok)}/{n}")
        figures.note(f"{name}: the last POST answered after {posted:.2f}s")
        if running:
            each = list(running.values())
            bare_each = f"{statistics.median(bare_ok):.2f}s" if bare_ok else "n/a"
            figures.note(f"{name}: per-studio POST->running median {statistics.median(each):.2f}s, "
                         f"p95 {pct(each, 95):.2f}s (list polled every {LIST_POLL * 1000:.0f} ms); "
                         f"bare per-process median {bare_each}")

        s0 = time.perf_counter()
        stops = await asyncio.gather(*(c.put(f"/studios/{sid}/stop", params=WS) for sid in sids),
                                     return_exceptions=True)
        bad = [s for s in stops if not (isinstance(s, httpx.Response) and s.status_code in (200, 409))]
        pending = set(sids)
        while pending and time.perf_counter() - s0 < 120:
            statuses = await list_statuses(c)
            pending = {sid for sid in pending if statuses.get(sid) not in ("stopped", "errored")}
            if pending:
                await asyncio.sleep(LIST_POLL)
        stop_wall = time.perf_counter() - s0
        figures.report(f"{name}_all_stopped", stop_wall, bare_stop)
        if bad or pending:
            figures.note(f"{name}: stop requests failed={len(bad)}, not stopped after 120 s={len(pending)}")
            for failed in bad[:3]:
                figures.note(f"{name}: a failed stop: {_said(failed)}")
            if pending:
                figures.note(f"{name}: not stopped: {', '.join(sorted(pending)[:5])} (statuses {statuses})"[:2000])
        deleted = await asyncio.gather(*(c.delete(f"/studios/{sid}", params=WS) for sid in sids),
                                       return_exceptions=True)
        not_deleted = [d for d in deleted if not (isinstance(d, httpx.Response) and d.status_code in (200, 204))]
        if not_deleted:
            figures.note(f"{name}: {len(not_deleted)} deletes failed")


def _said(answer: object) -> str:
    if isinstance(answer, httpx.Response):
        return f"{answer.status_code} {answer.text[:300]}"
    return repr(answer)


async def concurrent_timeline(c: httpx.AsyncClient, sids: list[str], running: dict[str, float], t0_wall: float,
                              figures: Figures, name: str) -> None:
    """For each milestone of a start: when the first, the median and the last studio reached it (s after t0)."""
    histories = await asyncio.gather(*(c.get(f"/studios/{sid}/history", params=WS) for sid in sids))
    at: dict[str, list[float]] = {}
    for sid, r in zip(sids, histories, strict=True):
        seen: set[str] = set()
        for label, t in start_milestones(r.json()["events"]):
            if label not in seen:
                seen.add(label)
                at.setdefault(label, []).append(t - t0_wall)
        if sid in running:
            at.setdefault("list shows running", []).append(running[sid])
    print(f"  timeline of the {len(sids)} starts (seconds after the first POST: first / median / last):", flush=True)
    for label, values in at.items():
        figures.note(f"{name} at {min(values):6.2f} / {statistics.median(values):6.2f} / {max(values):6.2f}s  "
                     f"{label}" + ("" if len(values) == len(sids) else f"  ({len(values)} of {len(sids)})"))


# -------------------------------------------------------------------------------------- command → read model


async def updates(system: System, figures: Figures, n: int) -> None:
    async with system.client() as c:
        r = await create(c, ECHO, auto_start=False)
        if r.status_code != 200:
            raise RuntimeError(f"POST /studios: {r.status_code} {r.text[:300]}")
        sid = r.json()["studio"]["sessionId"]
        try:
            await wait_status(c, sid, {"stopped"}, 30)
            for i in range(20):  # warm-up
                await c.put(f"/studios/{sid}", params=WS, json={"description": f"warm-up {i}"})
                await c.get(f"/studios/{sid}", params=WS)
            put_rtt: list[float] = []
            visible: list[float] = []
            put_reflects = first_get_shows = failures = 0
            for i in range(n):
                desc = f"bench description {i} {secrets.token_hex(4)}"
                t0 = time.perf_counter()
                r = await c.put(f"/studios/{sid}", params=WS, json={"description": desc})
                t1 = time.perf_counter()
                if r.status_code != 200:
                    failures += 1
                    if failures <= 3:
                        print(f"  PUT #{i}: {r.status_code} {r.text[:200]}", flush=True)
                    continue
                put_rtt.append(t1 - t0)
                put_reflects += r.json().get("description") == desc
                gets = 0
                while True:
                    gets += 1
                    if (await status_of(c, sid)).get("description") == desc:
                        break
                    if time.perf_counter() - t0 > 10:
                        raise TimeoutError(f"update {i} not visible in GET after 10 s")
                    await asyncio.sleep(0.002)
                visible.append(time.perf_counter() - t0)
                first_get_shows += gets == 1
            length = (await c.get(f"/studios/{sid}/history", params={**WS, "max": 0})).json()["totalSize"]
            get_rtt: list[float] = []
            for _ in range(n):
                t0 = time.perf_counter()
                (await c.get(f"/studios/{sid}", params=WS)).raise_for_status()
                get_rtt.append(time.perf_counter() - t0)
        finally:
            await stop_and_delete(c, sid)
    if not put_rtt:
        raise RuntimeError(f"all {n} PUTs failed")
    base50, base99 = statistics.median(get_rtt), pct(get_rtt, 99)
    figures.report("update_put_rtt_p50", statistics.median(put_rtt), base50, "ms")
    figures.report("update_put_rtt_p99", pct(put_rtt, 99), base99, "ms")
    figures.report("update_put_to_visible_in_get_p50", statistics.median(visible), base50, "ms")
    figures.report("update_put_to_visible_in_get_p99", pct(visible, 99), base99, "ms")
    tenth = max(1, len(put_rtt) // 10)
    first, last = statistics.median(put_rtt[:tenth]), statistics.median(put_rtt[-tenth:])
    figures.note(f"updates: PUT round trip median over the first {tenth} {first * 1000:.1f} ms, over the last "
                 f"{tenth} {last * 1000:.1f} ms; the studio's "
                 f"stream held {length} events at the end")
    figures.note(f"updates: {len(put_rtt)}/{n} PUTs answered 200; the PUT response carried the new description "
                 f"in {put_reflects}/{len(put_rtt)}; the first GET after it showed it in "
                 f"{first_get_shows}/{len(put_rtt)}; baseline = plain GET /studios/{{id}} round trip")


# ------------------------------------------------------------------------------------------------------ main


async def _step(figures: Figures, system: System, title: str, body: Callable[[], Awaitable[None]]) -> None:
    print(f"## {title}", flush=True)
    t0 = time.perf_counter()
    try:
        await body()
    except Exception as e:  # a failed step is reported and the next one runs
        traceback.print_exc()
        figures.fail(f"{title}: FAILED: {type(e).__name__}: {e}")
    finally:
        with contextlib.suppress(Exception):
            async with system.client() as c:
                await cleanup_studios(c)
    print(f"  ({title} took {time.perf_counter() - t0:.0f}s)", flush=True)


async def run(args: argparse.Namespace) -> Figures:
    figures = Figures()
    async with studios_up() as system:
        n = args.samples
        await _step(figures, system, f"http-echo create->running ({n} sequential)",
                    lambda: sequential_starts(system, figures, "http-echo", ECHO, n, "http_echo_start", 60))
        if args.jupyter_samples <= 0:
            figures.note("jupyter: skipped (--jupyter-samples 0)")
        elif importlib.util.find_spec("jupyterlab") is None:
            figures.note("jupyter: skipped: jupyterlab is not importable (install the 'jupyter' extra)")
        else:
            await _step(figures, system, f"JupyterLab create->running ({args.jupyter_samples} sequential)",
                        lambda: sequential_starts(system, figures, "jupyter", JUPYTER, args.jupyter_samples,
                                                  "jupyter_start", 180))
        if args.pool_samples > 0 and importlib.util.find_spec("jupyterlab") is not None:
            await _step(figures, system, f"JupyterLab create->/api/status from a warm pool of 2 "
                                         f"({args.pool_samples} rounds beside cold and bare)",
                        lambda: pool_starts(system, figures, args.pool_samples))
        if args.jupyter_concurrent > 0 and importlib.util.find_spec("jupyterlab") is not None:
            await _step(figures, system, f"JupyterLab {args.jupyter_concurrent} concurrent starts (cpu: 1 each)",
                        lambda: jupyter_concurrent(system, figures, args.jupyter_concurrent))
        await _step(figures, system, f"http-echo {args.concurrent} concurrent starts",
                    lambda: concurrent_starts(system, figures, args.concurrent))
        await _step(figures, system, f"command->read model ({args.updates} description updates)",
                    lambda: updates(system, figures, args.updates))
    figures.summary()
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    figures = asyncio.run(run(parse_args(argv)))
    return 1 if figures.failed else 0


if __name__ == "__main__":
    sys.exit(main())
