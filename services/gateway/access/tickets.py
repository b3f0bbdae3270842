"""Single-use connect tickets, and the sessions they open on a studio's own origin (table ``connect.*``).

The gateway's main origin, where the user is signed in, issues a ticket for one studio and redirects the browser to
the studio's origin with it; the studio's origin exchanges it, once and within its lifetime, for a session cookie
valid only there. Neither the user's API token nor anything that could stand for it on another origin ever reaches
the studio's origin. A ticket and a session cookie are secrets: the tables keep their SHA-256 hashes, and no event
names them.

A studio session refers to the user's token by its hash, so each request through it authenticates the token again
(revoked or expired: refused) and checks the studio's connect policy again (made private, removed from the
workspace: refused).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from libs.platform.clock import now as utcnow

TICKET_SECONDS = 60.0
SESSION_SECONDS = 12 * 3600.0


def digest(secret: str) -> str:
    """How tokens, tickets and cookies are stored and looked up (the same hash as ``read.tokens``)."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class OriginSession:
    session_id: str
    token_hash: str


class Tickets:
    """Issue and redeem tickets; open and resolve studio-origin sessions. ``clock`` decides every expiry."""

    def __init__(self, pool: asyncpg.Pool | Callable[[], asyncpg.Pool], *,
                 clock: Callable[[], datetime] = utcnow, ticket_seconds: float = TICKET_SECONDS,
                 session_seconds: float = SESSION_SECONDS) -> None:
        self._pool = pool
        self._clock = clock
        self.ticket_ttl = timedelta(seconds=ticket_seconds)
        self.session_ttl = timedelta(seconds=session_seconds)

    def _db(self) -> asyncpg.Pool:
        # the composition root may pass the pool late (it exists only once the lifespan has run)
        return self._pool if isinstance(self._pool, asyncpg.Pool) else self._pool()

    async def issue(self, session_id: str, token_hash: str) -> str:
        """A new ticket for ``session_id`` on behalf of the token with ``token_hash``."""
        ticket, now = secrets.token_urlsafe(32), self._clock()
        async with self._db().acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM connect.tickets WHERE expires_at <= $1", now)
            await conn.execute("INSERT INTO connect.tickets (ticket_hash, session_id, token_hash, expires_at) "
                               "VALUES ($1, $2, $3, $4)", digest(ticket), session_id, token_hash, now + self.ticket_ttl)
        return ticket

    async def redeem(self, ticket: str, session_id: str) -> str | None:
        """A new session cookie for ``session_id``, or None when the ticket is unknown, used, expired or for
        another studio. The ticket is gone after the first attempt, whatever its outcome."""
        now = self._clock()
        async with self._db().acquire() as conn, conn.transaction():
            row = await conn.fetchrow("DELETE FROM connect.tickets WHERE ticket_hash = $1 "
                                      "RETURNING session_id, token_hash, expires_at", digest(ticket))
            if row is None or row["session_id"] != session_id or row["expires_at"] <= now:
                return None
            cookie = secrets.token_urlsafe(32)
            await conn.execute("DELETE FROM connect.origin_sessions WHERE expires_at <= $1", now)
            await conn.execute("INSERT INTO connect.origin_sessions (cookie_hash, session_id, token_hash, "
                               "expires_at) VALUES ($1, $2, $3, $4)", digest(cookie), session_id,
                               row["token_hash"], now + self.session_ttl)
        return cookie

    async def session(self, cookie: str, session_id: str) -> OriginSession | None:
        """The studio session a cookie names, if it is for this studio and has not expired."""
        row = await self._db().fetchrow("SELECT session_id, token_hash, expires_at FROM connect.origin_sessions "
                                        "WHERE cookie_hash = $1", digest(cookie))
        if row is None or row["session_id"] != session_id or row["expires_at"] <= self._clock():
            return None
        return OriginSession(row["session_id"], row["token_hash"])

    async def end(self, cookie: str) -> None:
        await self._db().execute("DELETE FROM connect.origin_sessions WHERE cookie_hash = $1", digest(cookie))
