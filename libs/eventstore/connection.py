"""How the store connects: codecs, per-connection server settings, the pool.

Every connection the store opens (pool and writers alike) carries ``server_settings``: PostgreSQL applies them at
startup, per connection, so they hold whatever server ``DATABASE_URL`` names (an operator's own included, not only
the embedded one) and survive any ``RESET ALL``. A setting named in the DSN's query string
(``postgresql://…/studios?statement_timeout=0``) wins over the default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import asyncpg
import orjson

from libs.eventstore.types import Conn

#: A transaction left open (a client that died mid-way, a forgotten ``await``) holds the commit horizon back for
#: every reader: end it. A statement that runs longer than any the store issues is a bug or a lock pile-up.
SERVER_SETTINGS: dict[str, str] = {
    "idle_in_transaction_session_timeout": "60s",
    "statement_timeout": "60s",
}


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def server_settings(dsn: str, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The defaults, then ``overrides``, minus whatever the DSN sets itself (asyncpg passes those on)."""
    merged = {**SERVER_SETTINGS, **(overrides or {})}
    in_dsn = {k for k, _ in parse_qsl(urlsplit(dsn).query)}
    return {k: v for k, v in merged.items() if k not in in_dsn}


async def init_connection(conn: Conn) -> None:
    """Codecs are client-side, so they survive any reset (session settings would not). ``xid8`` needs none:
    asyncpg exchanges it as ``int`` in binary."""
    for typ in ("jsonb", "json"):
        await conn.set_type_codec(typ, encoder=_dumps, decoder=orjson.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset: none. asyncpg still rolls back a transaction left open; the default ``RESET ALL;
    UNLISTEN *; pg_advisory_unlock_all()`` round trip per release halved single-event appends. So nothing may
    leave session state on a pooled connection: use ``SET LOCAL`` and ``pg_advisory_xact_lock``, or a connection
    of its own (as the relay's leader lock does)."""


async def connect(dsn: str, settings: Mapping[str, str] | None = None) -> asyncpg.Connection:
    """One connection outside the pool, set up as the pool's are."""
    conn = await asyncpg.connect(dsn, server_settings=server_settings(dsn, settings))
    try:
        await init_connection(conn)
    except BaseException:
        conn.terminate()
        raise
    return conn


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10,
                      settings: Mapping[str, str] | None = None) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, init=init_connection,
                                     reset=_keep_session, server_settings=server_settings(dsn, settings))
    assert pool is not None
    return pool
