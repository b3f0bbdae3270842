"""FastAPI dependencies for the gateway's adapters. The composition root puts the ``EventStore`` on
``app.state.store``; routes take ``StoreDep`` / ``PoolDep`` and never build connections themselves."""

from __future__ import annotations

from typing import Annotated

import asyncpg
from fastapi import Depends, Request

from libs.contracts.errors import Unavailable
from libs.eventstore import EventStore


def get_store(request: Request) -> EventStore:
    store = getattr(request.app.state, "store", None)
    if store is None:
        raise Unavailable("The gateway is starting")
    assert isinstance(store, EventStore)
    return store


StoreDep = Annotated[EventStore, Depends(get_store)]


def get_pool(store: StoreDep) -> asyncpg.Pool:
    return store.pool


PoolDep = Annotated[asyncpg.Pool, Depends(get_pool)]
