"""What the checkpoints service reads from the event store: checkpoint states, a studio's checkpoints, and the
studio itself (its facts are shared: ``libs.contracts.studio_state``). It never reads another service's tables.

A studio's checkpoints are found without an index of our own: a run's checkpoint id is derived from the studio
and the run (``checkpoint_id``), so the candidates are the runs 1..n of the studio's stream; a clone's source is
named by id.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from typing import Any, TypeVar

from libs.contracts import studio, zone
from libs.contracts.checkpoint import CATEGORY, checkpoint_id, stream_name
from libs.contracts.events import registry
from libs.contracts.studio_state import INITIAL as STUDIO_INITIAL
from libs.contracts.studio_state import State as StudioState
from libs.contracts.studio_state import evolve as studio_evolve
from libs.eventstore import EventStore, load
from services.checkpoints import zones
from services.checkpoints.checkpoint import INITIAL, State, evolve

S = TypeVar("S")


async def checkpoint(store: EventStore, cid: int) -> tuple[State, int]:
    return await load(store, stream_name(cid), evolve, INITIAL)


async def studio_state(store: EventStore, session_id: str) -> StudioState:
    state, _ = await load(store, studio.stream_name(session_id), studio_evolve, STUDIO_INITIAL)
    return state


_STREAMS = """SELECT stream_name, event_type, schema_version, data FROM es.events
 WHERE stream_name = ANY($1::text[]) ORDER BY stream_name, stream_position"""

_ALL = """SELECT stream_name, event_type, schema_version, data FROM es.events
 WHERE category = $1 ORDER BY stream_name, stream_position"""


async def _fold(store: EventStore, sql: str, arg: object) -> list[State]:
    return await _fold_as(store, sql, arg, evolve, INITIAL)


async def _fold_as(store: EventStore, sql: str, arg: object, fold: Callable[[S, Any], S], initial: S) -> list[S]:
    events = defaultdict(list)
    for r in await store.pool.fetch(sql, arg):
        events[r["stream_name"]].append(registry.load(r["event_type"], r["schema_version"], _json(r["data"])))
    out = []
    for evs in events.values():
        state = initial
        for e in evs:
            state = fold(state, e)
        out.append(state)
    return out


async def every_zone(store: EventStore) -> list[zones.State]:
    """Every zone's stored copy and syncs (garbage collection keeps what they name)."""
    return await _fold_as(store, _ALL, zone.CATEGORY, zones.evolve, zones.INITIAL)


def _json(data: Any) -> dict[str, Any]:
    return json.loads(data) if isinstance(data, str) else dict(data)


async def of_studio(store: EventStore, session_id: str, runs: int) -> list[State]:
    """The studio's checkpoints (deleted ones left out), newest run first."""
    ids = [stream_name(checkpoint_id(session_id, r)) for r in range(1, runs + 1)]
    states = await _fold(store, _STREAMS, ids) if ids else []
    return sorted((s for s in states if s.exists and not s.deleted), key=lambda s: -s.run)


async def everything(store: EventStore) -> list[State]:
    """Every checkpoint (garbage collection, the interim timer): one read by category, folded here."""
    return [s for s in await _fold(store, _ALL, CATEGORY) if s.exists]
