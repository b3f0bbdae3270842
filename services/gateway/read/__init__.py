"""The gateway's read side: plain SQL over the ``read`` schema (every query of the gateway lives in this package),
the projections that fill it, and the read-your-writes wait."""

from __future__ import annotations

import asyncpg
from asyncpg.pool import PoolConnectionProxy

#: What a query runs on: the pool, or a connection (plain, or taken from the pool) when it is part of a transaction.
Db = asyncpg.Pool | asyncpg.Connection | PoolConnectionProxy
