"""The warm pools' I/O: what the compute environments ask for (their events), the processes (``processes.py``),
the claims (the store), metrics and the status file. The decisions are ``model.py``'s and ``rules.py``'s.

- Only the leader (the reconciler's lock, as its last pass left it: no round trip of its own on the lock's
  connection) keeps pools filled: two lifecycles on one host never both refill.
- A start takes a member by a recorded claim: a ``NameReserved`` on ``poolclaim-<member>`` appended with
  ``no_stream``, so of two starts racing for one member (in one process or two) exactly one wins; the loser tries
  the next member, or starts cold. A member is claimed at most once, ever.
- On start-up (``recover``), before the reconciler's first pass, a member whose claim is recorded but who is not
  bound (its lifecycle died mid-binding) is stopped: the studio's resumed start finds no process of its run and
  takes another member or starts cold. A bound one is the studio's (``processes.py``), never half-bound.
- A whole-system shutdown stops every member (``shutdown``); a restart leaves them for the next lifecycle.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable

import psutil

from libs.contracts.studio import stream_name
from libs.contracts.studio_state import State
from libs.eventstore import EventStore
from libs.eventstore.errors import WrongExpectedVersion
from libs.eventstore.reservations import NameTaken, reserve
from libs.platform.clock import now as utcnow
from libs.platform.metrics import ServiceMetrics
from libs.platform.session_keys import session_secret
from services.lifecycle.backends.base import Handle, LaunchSpec
from services.lifecycle.backends.ports import free_port
from services.lifecycle.pools import model, rules
from services.lifecycle.pools.model import Claimed, Left, MemberStatus, PoolClass, Spawned, Warmed
from services.lifecycle.pools.processes import MEMBER_PREFIX, NotWaiting, PoolProcesses
from services.lifecycle.pools.usage import member_memory

log = logging.getLogger("studios.lifecycle.pools")
CLAIMS = "poolclaim"
_M = ServiceMetrics("lifecycle")
READY = _M.gauge("pool_ready", "Pooled processes warm and waiting, per class", ("compute_env", "template"))
STARTS = _M.counter("pool_starts_total", "Starts a pool could serve (hit) or not (miss: started cold)", ("outcome",))
_DESIRED_SQL = """SELECT stream_name, event_type, data FROM es.events WHERE stream_name LIKE 'computeenv-%'
                  AND event_type IN ('ComputeEnvCreated', 'ComputeEnvDeleted', 'ComputeEnvWarmPoolSet')
                  ORDER BY stream_name, stream_position"""
Launch = Callable[[LaunchSpec], Awaitable[Handle]]


class PoolManager:
    def __init__(self, store: EventStore, processes: PoolProcesses, session_key: bytes, *, interval: float = 1.0,
                 leading: Callable[[], bool] | None = None, warm_timeout: float = 300.0) -> None:
        self.store, self.processes, self.key = store, processes, session_key
        self.interval, self.leading, self.warm_timeout = interval, leading, warm_timeout
        self.state = model.PoolState()
        self.handles: dict[str, Handle] = {}
        self._wake = asyncio.Event()
        self._claim_lock = asyncio.Lock()

    def secret(self, member_id: str) -> str:
        """The member's pool secret: authorizes its binding only, never a credential of the tool."""
        return session_secret(self.key, f"pool/{member_id}")

    def _apply(self, *events: model.PoolEvent) -> None:
        self.state = model.fold(list(events), self.state)

    # -- start-up and shutdown --------------------------------------------------------------------------------------

    async def recover(self) -> None:
        """Adopt the members an earlier lifecycle left; stop the ones claimed but never bound (see the module)."""
        for handle in await self.processes.members():
            cls = self.processes.class_of(handle.session_id)
            if cls is None or await self._claimed(handle.session_id):
                log.warning("pooled process %s was claimed but not bound: stopping it", handle.session_id)
                await self.processes.retire(handle)
                continue
            self.handles[handle.session_id] = handle
            self._apply(Spawned(handle.session_id, cls))
        for handle in list(self.processes.records.handles()):
            if handle.session_id not in self.handles:
                self.processes.forget(handle.session_id)  # ended while nobody watched
        self._wake.set()

    async def shutdown(self) -> None:
        """A whole-system shutdown: every pooled process is stopped."""
        handles = [*self.handles.values(), *await self.processes.members()]
        await asyncio.gather(*(self.processes.retire(h) for h in {h.session_id: h for h in handles}.values()),
                             return_exceptions=True)
        for member_id in list(self.handles):
            self._apply(Left(member_id, "shutdown"))
        self.handles.clear()
        self._publish()

    # -- the loop -------------------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.pass_once()
            except Exception:
                log.exception("warm pool pass failed; retrying")
            warming = any(m.status is MemberStatus.WARMING for m in self.state.members.values())
            self._wake.clear()
            waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
            await asyncio.wait(waits, timeout=0.05 if warming else self.interval,
                               return_when=asyncio.FIRST_COMPLETED)
            for w in waits:
                w.cancel()

    async def pass_once(self) -> None:
        if self.leading is not None and not self.leading():
            return
        rows = await self.store.pool.fetch(_DESIRED_SQL)
        self._apply(model.DesiredSet(rules.desired(
            (r["stream_name"], r["event_type"], _data(r["data"])) for r in rows)))
        await self._probe()
        free = psutil.virtual_memory().available // 2**20
        for decision in model.refill(self.state, free):
            if isinstance(decision, model.SpawnWanted):
                await self._spawn(decision.cls)
            elif isinstance(decision, model.RetireWanted):
                await self._retire(decision.member_id, "the pool shrank")
        self._publish()

    async def _probe(self) -> None:
        now = time.time()
        for member in list(self.state.members.values()):
            handle = self.handles.get(member.member_id)
            if handle is None or member.status is MemberStatus.CLAIMED:
                continue
            if not self.processes.alive(handle):
                log.warning("pooled process %s died; replacing it", member.member_id)
                await self._retire(member.member_id, "died")
            elif member.status is MemberStatus.WARMING:
                if self.processes.waiting(member.member_id):
                    self._apply(Warmed(member.member_id))
                elif now - handle.started_at > self.warm_timeout:
                    await self._retire(member.member_id, "never became warm")

    async def _spawn(self, cls: PoolClass) -> None:
        member_id = f"{MEMBER_PREFIX}{uuid.uuid4().hex[:16]}"
        handle = await self.processes.spawn(member_id, cls, self.secret(member_id))
        self.handles[member_id] = handle
        self._apply(Spawned(member_id, cls))

    async def _retire(self, member_id: str, why: str) -> None:
        handle = self.handles.pop(member_id, None)
        self._apply(Left(member_id, why))
        if handle is not None:
            await self.processes.retire(handle)

    # -- taking a member --------------------------------------------------------------------------------------------

    async def launch(self, state: State, spec: LaunchSpec, cold: Launch) -> Handle:
        """A pooled process bound to the start ``spec`` describes when the pool has its class; else ``cold``."""
        cls = rules.poolable(state, self.state.desired) if spec.backend == "local" else None
        if cls is not None:
            while (member_id := model.pick(self.state, cls)) is not None:
                self._apply(Claimed(member_id))  # before any await: no other start in this process picks it
                self._publish()
                handle = await self._take(state, spec, member_id)
                # At once, not at the end of the next pass: that pass spawns the refill first, and a studio
                # started from the pool is often running before the spawn returns, while ``studios pools``
                # still listed its process as ready.
                self._publish()
                self._wake.set()  # refill at once
                if handle is not None:
                    STARTS(outcome="hit").inc()
                    return handle
            STARTS(outcome="miss").inc()  # a pooled class, but no member was ready: cold
        return await cold(spec)

    async def _take(self, state: State, spec: LaunchSpec, member_id: str) -> Handle | None:
        member = self.handles.get(member_id)
        owner = f"{stream_name(state.session_id)}/{state.run}"
        try:
            claim = await reserve(self.store, CLAIMS, member_id, owner, utcnow(), f"pooled process {member_id}")
            if claim is not None:
                await self.store.append_many([claim])
        except (NameTaken, WrongExpectedVersion):
            self.handles.pop(member_id, None)  # another start has it; it is no longer ours to hand out
            self._apply(Left(member_id, "claimed elsewhere"))
            return None
        try:
            if member is None:
                raise NotWaiting(f"pooled process {member_id} is not known here")
            bound = await asyncio.to_thread(self.processes.bind, member, self.secret(member_id), spec, free_port())
        except (NotWaiting, OSError) as e:
            log.warning("could not bind %s: %s", member_id, e)
            await self._retire(member_id, "could not be bound")
            return None
        self.handles.pop(member_id, None)
        self._apply(Left(member_id, f"bound to {spec.session_id}"))
        log.info("studio %s run %s took pooled process %s", state.session_id, state.run, member_id)
        return bound

    async def _claimed(self, member_id: str) -> bool:
        return bool(await self.store.read_stream(f"{CLAIMS}-{member_id}"))

    # -- what operators see -----------------------------------------------------------------------------------------

    def status(self) -> dict[str, object]:
        classes = sorted({*self.state.desired, *(m.cls for m in self.state.members.values())})
        out = []
        for cls in classes:
            members = self.state.of(cls)
            out.append({**cls.__dict__, "size": self.state.desired.get(cls, 0), "ready": self.state.ready(cls),
                        "members": [{"id": m.member_id, "status": m.status.value,
                                     "pid": int(self.handles[m.member_id].ident) if m.member_id in self.handles
                                     else None,
                                     "memory_bytes": member_memory(self.processes, self.handles.get(m.member_id))}
                                    for m in members]})
        return {"at": utcnow().isoformat(), "pools": out}

    def _publish(self) -> None:
        status = self.status()
        for pool in status["pools"]:  # type: ignore[attr-defined]
            READY(compute_env=pool["compute_env_id"], template=pool["template"]).set(pool["ready"])
        path = self.processes.state_dir / "status.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(status))
        tmp.replace(path)  # ``studios pools`` reads it


def _data(value: object) -> dict[str, object]:
    return json.loads(value) if isinstance(value, str) else dict(value)  # type: ignore[call-overload]
