"""Connections whose lease has passed, from the studios read model (``state.active_connections``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.gateway.read import Db


@dataclass(frozen=True)
class Expired:
    session_id: str
    run: int
    user_id: str
    connection_id: str


_EXPIRED = """SELECT s.session_id, (s.state->>'run')::int AS run, c->>'user_id' AS user_id, cid AS connection_id
  FROM read.studios s, jsonb_array_elements(s.state->'active_connections') c,
       jsonb_array_elements_text(c->'connection_ids') cid
 WHERE s.status = 'running' AND NOT s.deleted AND jsonb_array_length(s.state->'active_connections') > 0
   AND c->>'lease_until' IS NOT NULL AND (c->>'lease_until')::timestamptz < $1
 LIMIT $2"""


async def expired(db: Db, before: datetime, limit: int = 1000) -> list[Expired]:
    """Open connections of running studios whose user's latest lease ended before ``before``."""
    return [Expired(r["session_id"], r["run"], r["user_id"], r["connection_id"])
            for r in await db.fetch(_EXPIRED, before, limit)]
