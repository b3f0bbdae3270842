"""SQL of webhook endpoints (migration 0007): what the fan-out applies, the secrets, the routes' reads.

The fan-out subscription (``services/gateway/webhooks/fanout.py``) calls the ``apply_*`` and ``enqueue``
functions on its transaction's connection, so endpoints, deliveries and its checkpoint move together.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from services.gateway.read import Db

Row = dict[str, Any]


# -- secrets --------------------------------------------------------------------------------------------------

async def save_secret(db: Db, webhook_id: str, secret: str) -> None:
    """Before the registration's event is appended: a retried registration keeps its first secret."""
    await db.execute("INSERT INTO webhooks.secrets (webhook_id, secret) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                     webhook_id, secret)


async def secret(db: Db, webhook_id: str) -> str | None:
    value = await db.fetchval("SELECT secret FROM webhooks.secrets WHERE webhook_id = $1", webhook_id)
    return None if value is None else str(value)


# -- what the fan-out applies -----------------------------------------------------------------------------------

async def apply_registered(db: Db, d: dict[str, Any], at: datetime) -> None:
    await db.execute(
        """INSERT INTO webhooks.endpoints (id, workspace_id, url, event_types, description, created_by,
                                           date_created, last_updated)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT DO NOTHING""",
        d["webhook_id"], str(d["workspace_id"]), d["url"], list(d.get("event_types") or ()), d.get("description"),
        d["actor"], at)


async def apply_changed(db: Db, d: dict[str, Any], at: datetime) -> None:
    await db.execute(
        """UPDATE webhooks.endpoints SET url = $2, event_types = $3, description = $4, enabled = $5,
                  disabled_reason = CASE WHEN $5 THEN NULL ELSE disabled_reason END, last_updated = $6
            WHERE id = $1""",
        d["webhook_id"], d["url"], list(d.get("event_types") or ()), d.get("description"), d["enabled"], at)


async def apply_disabled(db: Db, d: dict[str, Any], at: datetime) -> None:
    await db.execute("UPDATE webhooks.endpoints SET enabled = false, disabled_reason = $2, last_updated = $3 "
                     "WHERE id = $1", d["webhook_id"], d["reason"], at)


async def apply_deleted(db: Db, d: dict[str, Any], at: datetime) -> None:
    """The endpoint goes, with its secret; what it still had to receive is failed, not sent."""
    wid = d["webhook_id"]
    await db.execute("UPDATE webhooks.endpoints SET deleted = true, enabled = false, last_updated = $2 "
                     "WHERE id = $1", wid, at)
    await db.execute("DELETE FROM webhooks.secrets WHERE webhook_id = $1", wid)
    await db.execute("UPDATE webhooks.deliveries SET status = 'failed', last_error = 'the endpoint was deleted' "
                     "WHERE webhook_id = $1 AND status = 'pending'", wid)


async def workspace_of(db: Db, stream_name: str, named: str | None) -> str | None:
    """The workspace of an event: the one it names (remembered for its stream), else its stream's."""
    if named is not None:
        await db.execute("INSERT INTO webhooks.stream_workspaces (stream_name, workspace_id) VALUES ($1, $2) "
                         "ON CONFLICT DO NOTHING", stream_name, named)
        return named
    value = await db.fetchval("SELECT workspace_id FROM webhooks.stream_workspaces WHERE stream_name = $1",
                              stream_name)
    return None if value is None else str(value)


# An endpoint's filter in SQL, the same rule as ``domain.webhook.matches``.
_ENQUEUE = """INSERT INTO webhooks.deliveries (id, webhook_id, event_id, event_type, global_position, body,
                                               next_attempt_at)
SELECT gen_random_uuid(), e.id, $2, $3, $4, $5, now()
  FROM webhooks.endpoints e
 WHERE e.workspace_id = $1 AND e.enabled AND NOT e.deleted
   AND (cardinality(e.event_types) = 0 OR $3 = ANY(e.event_types)
        OR EXISTS (SELECT 1 FROM unnest(e.event_types) t
                    WHERE right(t, 1) = '*' AND starts_with($3, left(t, -1))))
ON CONFLICT (webhook_id, event_id) DO NOTHING"""


async def enqueue(db: Db, workspace_id: str, event_id: uuid.UUID, event_type: str, global_position: int,
                  body: str) -> int:
    """One delivery per enabled endpoint of the workspace whose filter wants the event (at most one per
    endpoint and event, whoever enqueues it); how many."""
    status = await db.execute(_ENQUEUE, workspace_id, event_id, event_type, global_position, body)
    return int(status.rsplit(" ", 1)[-1])


async def has_endpoints(db: Db) -> bool:
    return bool(await db.fetchval("SELECT EXISTS (SELECT 1 FROM webhooks.endpoints WHERE enabled)"))


# -- the routes' reads ------------------------------------------------------------------------------------------

_ENDPOINT = """id, workspace_id AS "workspaceId", url, event_types AS "eventTypes", description, enabled,
  disabled_reason AS "disabledReason", created_by AS "createdBy", date_created AS "dateCreated",
  last_updated AS "lastUpdated" FROM webhooks.endpoints"""


async def endpoints(db: Db, workspace_id: int) -> list[Row]:
    rows = await db.fetch(f"SELECT {_ENDPOINT} WHERE workspace_id = $1 AND NOT deleted ORDER BY date_created, id",
                          str(workspace_id))
    return [dict(r) for r in rows]


async def endpoint(db: Db, workspace_id: int, webhook_id: str) -> Row | None:
    row = await db.fetchrow(f"SELECT {_ENDPOINT} WHERE workspace_id = $1 AND id = $2 AND NOT deleted",
                            str(workspace_id), webhook_id)
    return None if row is None else dict(row)
