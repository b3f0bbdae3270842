"""Consumer checkpoints: where each projection, relay and consumer stands; compare-and-set only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from libs.eventstore.errors import CheckpointMoved
from libs.eventstore.types import START, Conn, Position


@dataclass(frozen=True)
class CheckpointInfo:
    name: str
    position: Position
    paused: bool
    error: str | None
    updated_at: datetime


async def load(conn: Conn, name: str) -> CheckpointInfo:
    """The checkpoint row, created at the start when missing."""
    await conn.execute("INSERT INTO es.checkpoints (name) VALUES ($1) ON CONFLICT DO NOTHING", name)
    r = await conn.fetchrow(
        "SELECT name, tx_id, global_position, paused, error, updated_at FROM es.checkpoints WHERE name = $1", name)
    assert r is not None
    return CheckpointInfo(r["name"], Position(r["tx_id"], r["global_position"]), r["paused"], r["error"],
                          r["updated_at"])


async def advance(conn: Conn, name: str, expected: Position, new: Position) -> None:
    """Move the checkpoint from ``expected`` to ``new``; raise CheckpointMoved if someone else moved it."""
    status = await conn.execute(
        """UPDATE es.checkpoints SET tx_id = $4::xid8, global_position = $5, updated_at = now(), error = NULL
            WHERE name = $1 AND tx_id = $2::xid8 AND global_position = $3""",
        name, expected.tx_id, expected.global_position, new.tx_id, new.global_position)
    if status != "UPDATE 1":
        raise CheckpointMoved(f"checkpoint {name} is no longer at {expected}")


async def record_error(conn: Conn, name: str, error: str | None) -> None:
    await conn.execute("UPDATE es.checkpoints SET error = $2, updated_at = now() WHERE name = $1", name, error)


async def list_all(conn: Conn | asyncpg.Pool) -> list[CheckpointInfo]:
    rows = await conn.fetch(
        "SELECT name, tx_id, global_position, paused, error, updated_at FROM es.checkpoints ORDER BY name")
    return [CheckpointInfo(r["name"], Position(r["tx_id"], r["global_position"]), r["paused"], r["error"],
                           r["updated_at"]) for r in rows]


async def reset(conn: Conn | asyncpg.Pool, name: str, to: Position = START) -> bool:
    status = await conn.execute(
        """UPDATE es.checkpoints SET tx_id = $2::xid8, global_position = $3, error = NULL, updated_at = now()
            WHERE name = $1""", name, to.tx_id, to.global_position)
    return bool(status == "UPDATE 1")


async def set_paused(conn: Conn | asyncpg.Pool, name: str, paused: bool) -> bool:
    status = await conn.execute(
        "UPDATE es.checkpoints SET paused = $2, updated_at = now() WHERE name = $1", name, paused)
    return bool(status == "UPDATE 1")


# -- leader epochs (the relay; migration 0003) -------------------------------------------------------------------


async def claim_epoch(conn: Conn, name: str) -> int:
    """Take the next leader epoch of checkpoint ``name`` (the caller just won its leader lock); returns it."""
    await conn.execute("INSERT INTO es.checkpoints (name) VALUES ($1) ON CONFLICT DO NOTHING", name)
    epoch = await conn.fetchval(
        "UPDATE es.checkpoints SET leader_epoch = leader_epoch + 1 WHERE name = $1 RETURNING leader_epoch", name)
    return int(epoch)


async def epoch_of(conn: Conn, name: str, timeout: float | None = None) -> int | None:
    """The leader epoch checkpoint ``name`` stands at (None: no such row)."""
    epoch = await conn.fetchval("SELECT leader_epoch FROM es.checkpoints WHERE name = $1", name, timeout=timeout)
    return None if epoch is None else int(epoch)


async def advance_as_leader(conn: Conn, name: str, expected: Position, new: Position, epoch: int) -> None:
    """``advance`` for the holder of leader epoch ``epoch``: refused (CheckpointMoved) once another leader
    claimed a later epoch, even when the position still matches."""
    status = await conn.execute(
        """UPDATE es.checkpoints SET tx_id = $4::xid8, global_position = $5, updated_at = now(), error = NULL
            WHERE name = $1 AND tx_id = $2::xid8 AND global_position = $3 AND leader_epoch = $6""",
        name, expected.tx_id, expected.global_position, new.tx_id, new.global_position, epoch)
    if status != "UPDATE 1":
        raise CheckpointMoved(f"checkpoint {name} is no longer at {expected} under leader epoch {epoch}")
