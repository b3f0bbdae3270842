"""What the native routers share: sending a command with the request's trace, read-your-writes on the builds
read model, and camelCase bodies."""

from __future__ import annotations

import asyncpg
from fastapi import Request
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from libs.contracts.commands import Command, Reply
from libs.contracts.errors import Unavailable
from services.gateway.commands import RequestTrace
from services.gateway.read.projections.base import wait_for_position
from services.gateway.read.projections.builds import BUILDS


class Body(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


async def send(request: Request, cmd: Command, actor: str) -> Reply:
    """The command with the request's envelope (``Idempotency-Key``, correlation id, ``traceparent``)."""
    sender = getattr(request.app.state, "sender", None)
    if sender is None:
        raise Unavailable("The gateway is starting")
    reply: Reply = await sender.send(cmd, RequestTrace.of(request.headers).meta(actor))
    return reply


async def settle(pool: asyncpg.Pool, position: int | None) -> None:
    """Wait until the builds read model shows a write; 503 if it is stuck (the write itself is kept)."""
    if not await wait_for_position(pool, BUILDS, position):
        raise Unavailable("The change was saved but the read model is behind; retry the read shortly")
