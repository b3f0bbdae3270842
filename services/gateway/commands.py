"""How routes send commands: over NATS in production, in process in tests and the single-process mode.

Routes depend on ``CommandSender`` only. A failed command raises its typed ``StudiosError`` (mapped to HTTP by
``api.seqera.common.install_error_handlers``); ``checked`` turns an error reply into that exception
for senders that return it.

``RequestTrace`` is what an HTTP request says about the commands it sends: an ``Idempotency-Key`` (the command id
derives from it, per user, so a retried request decides nothing again), a correlation id (``X-Correlation-Id`` or
``X-Request-Id``) and a W3C ``traceparent``. They reach the metadata of every event the command decides.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from libs.bus.commands import CommandClient
from libs.contracts.commands import Command, CommandMeta, Reply, valid_traceparent
from libs.contracts.errors import InvalidInput, error_from_dict

IDEMPOTENCY_KEY = "Idempotency-Key"
#: Stripe's limit; the IETF draft leaves it to the server.
MAX_KEY_LENGTH = 255
MAX_CORRELATION_LENGTH = 128
#: A fixed namespace: the same user and key give the same command id in every gateway process, forever.
NAMESPACE = uuid.UUID("5b0c6f0e-2a4f-4d83-9a8c-4f6e1d7c2b19")


class CommandSender(Protocol):
    async def send(self, cmd: Command) -> Reply: ...


class TracingSender(Protocol):
    """A sender that passes the command's envelope on (what the Studios routes use)."""

    async def send(self, cmd: Command, meta: CommandMeta | None = None) -> Reply: ...


def checked(reply: Reply) -> Reply:
    if not reply.ok:
        raise error_from_dict(reply.error or {})
    return reply


class BusCommandSender:
    """Adapter over ``libs.bus.commands.CommandClient`` (which raises typed errors itself)."""

    def __init__(self, client: CommandClient, timeout: float = 10.0) -> None:
        self._client = client
        self._timeout = timeout

    async def send(self, cmd: Command, meta: CommandMeta | None = None) -> Reply:
        meta = meta or CommandMeta(origin="gateway")
        return checked(await self._client.send(cmd, timeout=self._timeout, meta=meta))


def _key(value: str | None) -> str | None:
    """The key as sent; the IETF draft sends it as a quoted structured-field string, Stripe bare: both are one."""
    if value is None:
        return None
    key = value.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidInput(f"{IDEMPOTENCY_KEY} must be 1 to {MAX_KEY_LENGTH} printable characters",
                           field=IDEMPOTENCY_KEY)
    return key


@dataclass(frozen=True)
class RequestTrace:
    idempotency_key: str | None = None
    correlation_id: str | None = None
    traceparent: str | None = None

    @classmethod
    def of(cls, headers: Mapping[str, str], *, with_key: bool = True) -> RequestTrace:
        """From request headers (case-insensitive ones, as Starlette's); a bad ``Idempotency-Key`` is a 400."""
        correlation = (headers.get("x-correlation-id") or headers.get("x-request-id") or "").strip()
        return cls(_key(headers.get(IDEMPOTENCY_KEY.lower())) if with_key else None,
                   correlation[:MAX_CORRELATION_LENGTH] if correlation.isprintable() and correlation else None,
                   valid_traceparent(headers.get("traceparent")))

    def command_id(self, actor: str) -> uuid.UUID:
        """From the key, scoped to the caller (two users' equal keys are two commands); else a fresh one."""
        if self.idempotency_key is None:
            return uuid.uuid4()
        return uuid.uuid5(NAMESPACE, f"{actor}\n{self.idempotency_key}")

    def meta(self, actor: str) -> CommandMeta:
        return CommandMeta(command_id=self.command_id(actor), correlation_id=self.correlation_id,
                           traceparent=self.traceparent, origin="gateway")


_current: ContextVar[RequestTrace | None] = ContextVar("studios_request_trace", default=None)


def current_trace() -> RequestTrace:
    """The trace of the HTTP request being served (``TraceRequests``), for glue that has no request object (the
    gateway's in-process handlers); outside a request, an empty one."""
    return _current.get() or RequestTrace()


class TraceRequests:
    """ASGI middleware: makes each request's correlation id and ``traceparent`` the ``current_trace()``. The key
    is left out: only the Studios routes honour ``Idempotency-Key`` (they read it themselves, and refuse a bad one
    with a 400, which a middleware could not)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> Any:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        token = _current.set(RequestTrace.of(Headers(scope=scope), with_key=False))
        try:
            return await self.app(scope, receive, send)
        finally:
            _current.reset(token)
