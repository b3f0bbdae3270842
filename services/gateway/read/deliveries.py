"""SQL of the webhook delivery queue (migration 0007): claims, results, the delivery log, redelivery.

A worker claims one due delivery at a time with a lease (``locked_until``) in one statement, sends it outside any
transaction, then records the result only if nobody claimed the delivery since (``attempts`` unchanged). A worker
that dies mid-request leaves a claim that expires, and the delivery is tried again: at least once, with the same
``webhook-id`` so a receiver can drop the repeat. Times come from the worker's clock, so tests can move it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.gateway.read import Db

Row = dict[str, Any]


@dataclass(frozen=True)
class Claim:
    delivery_id: uuid.UUID
    webhook_id: str
    url: str
    secret: str
    body: str
    #: the attempt this claim makes, counted over the delivery's life, and within its current round
    attempt: int
    round_attempt: int


_DUE = """SELECT DISTINCT d.webhook_id FROM webhooks.deliveries d
  JOIN webhooks.endpoints e ON e.id = d.webhook_id AND e.enabled AND NOT e.deleted
  JOIN webhooks.secrets s ON s.webhook_id = d.webhook_id
 WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND (d.locked_until IS NULL OR d.locked_until <= $1)
 LIMIT $2"""


async def due_endpoints(db: Db, now: datetime, limit: int = 1000) -> list[str]:
    """Endpoints with at least one delivery to try now."""
    return [r["webhook_id"] for r in await db.fetch(_DUE, now, limit)]


_CLAIM = """WITH c AS (
  SELECT d.id, e.url, s.secret FROM webhooks.deliveries d
    JOIN webhooks.endpoints e ON e.id = d.webhook_id AND e.enabled AND NOT e.deleted
    JOIN webhooks.secrets s ON s.webhook_id = d.webhook_id
   WHERE d.webhook_id = $1 AND d.status = 'pending' AND d.next_attempt_at <= $2
     AND (d.locked_until IS NULL OR d.locked_until <= $2)
   ORDER BY d.next_attempt_at, d.global_position LIMIT 1
   FOR UPDATE OF d SKIP LOCKED)
UPDATE webhooks.deliveries d SET locked_until = $3, attempts = d.attempts + 1, round_attempts = d.round_attempts + 1
  FROM c WHERE d.id = c.id
RETURNING d.id, d.webhook_id, c.url, c.secret, d.body, d.attempts, d.round_attempts"""


async def claim(db: Db, webhook_id: str, now: datetime, lease_until: datetime) -> Claim | None:
    """The endpoint's next due delivery, claimed until ``lease_until``; None when nothing is due."""
    r = await db.fetchrow(_CLAIM, webhook_id, now, lease_until)
    if r is None:
        return None
    return Claim(r["id"], r["webhook_id"], r["url"], r["secret"], r["body"], r["attempts"], r["round_attempts"])


@dataclass(frozen=True)
class Outcome:
    """What an attempt came to: ``succeeded``, ``pending`` again at ``next_attempt_at``, or ``failed``."""

    status: str
    at: datetime
    duration_ms: int
    status_code: int | None = None
    error: str | None = None
    next_attempt_at: datetime | None = None


_RESULT = """UPDATE webhooks.deliveries SET status = $3, locked_until = NULL, last_status_code = $4, last_error = $5,
       next_attempt_at = coalesce($6, next_attempt_at),
       delivered_at = CASE WHEN $3 = 'succeeded' THEN $7 ELSE delivered_at END
 WHERE id = $1 AND attempts = $2"""


async def record(pool: asyncpg.Pool, c: Claim, o: Outcome) -> bool:
    """The attempt in the log, and its outcome on the delivery unless someone claimed it since (False then)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """INSERT INTO webhooks.attempts (delivery_id, attempt, at, status_code, error, duration_ms)
               VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING""",
            c.delivery_id, c.attempt, o.at, o.status_code, o.error, o.duration_ms)
        status = await conn.execute(_RESULT, c.delivery_id, c.attempt, o.status, o.status_code, o.error,
                                    o.next_attempt_at, o.at)
    return bool(status == "UPDATE 1")


# -- the delivery log and redelivery ----------------------------------------------------------------------------

_DELIVERY = """d.id, d.event_id AS "eventId", d.event_type AS "eventType", d.global_position AS "globalPosition",
  d.status, d.attempts, d.next_attempt_at AS "nextAttemptAt", d.last_status_code AS "lastStatusCode",
  d.last_error AS "lastError", d.date_created AS "dateCreated", d.delivered_at AS "deliveredAt",
  coalesce((SELECT jsonb_agg(jsonb_build_object('attempt', a.attempt, 'at', a.at, 'statusCode', a.status_code,
                                                'error', a.error, 'durationMs', a.duration_ms) ORDER BY a.attempt)
              FROM webhooks.attempts a WHERE a.delivery_id = d.id), '[]'::jsonb) AS "attemptLog"
  FROM webhooks.deliveries d"""


async def deliveries(db: Db, webhook_id: str, status: str | None, limit: int, offset: int) -> tuple[list[Row], int]:
    rows = await db.fetch(
        f"""SELECT {_DELIVERY} WHERE d.webhook_id = $1 AND ($2::text IS NULL OR d.status = $2)
             ORDER BY d.global_position DESC LIMIT $3 OFFSET $4""", webhook_id, status, limit, offset)
    total = await db.fetchval("SELECT count(*) FROM webhooks.deliveries WHERE webhook_id = $1 "
                              "AND ($2::text IS NULL OR status = $2)", webhook_id, status)
    return [dict(r) for r in rows], int(total)


async def delivery(db: Db, webhook_id: str, delivery_id: uuid.UUID) -> Row | None:
    row = await db.fetchrow(f"SELECT {_DELIVERY} WHERE d.webhook_id = $1 AND d.id = $2", webhook_id, delivery_id)
    return None if row is None else dict(row)


async def redeliver(db: Db, webhook_id: str, delivery_id: uuid.UUID, now: datetime) -> bool:
    """Send it again now, with a fresh retry schedule (same body, same ``webhook-id``)."""
    status = await db.execute(
        """UPDATE webhooks.deliveries SET status = 'pending', round_attempts = 0, next_attempt_at = $3,
                  locked_until = NULL WHERE webhook_id = $1 AND id = $2""", webhook_id, delivery_id, now)
    return bool(status == "UPDATE 1")
