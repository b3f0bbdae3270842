"""Commands over NATS request/reply: ``studios.cmd.<service>.<command>``, one queue group per service.

Request: the command as JSON (``model_dump(mode="json")``). Reply: a ``libs.contracts.Reply`` as JSON: ``ok``, the
appended global ``position`` (read-your-writes), a ``result`` object, or an ``error`` (``StudiosError.to_dict()``).

The server side is a FastStream core-NATS subscriber (queue group ``studios-<service>``) whose return value
FastStream sends to the request's reply inbox. The client uses nats-py's ``request`` on the broker's connection:
FastStream's ``broker.request`` would work too, but it wraps every reply in a ``NatsMessage`` and hides
"no responders" behind a timeout; a command client needs neither.

The command's envelope (``CommandMeta``) travels in request headers (``libs.bus.headers``): the command id, the
correlation id, ``traceparent`` and the sending service. The server hands it to the handler beside the command; a
request without a command id gets a fresh one, so every handler sees one.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import nats.aio.client
import nats.errors
import pydantic
from faststream.nats import NatsBroker, NatsMessage

from libs.bus import headers as h
from libs.bus import heartbeats
from libs.contracts.commands import Command, CommandMeta, Reply, valid_traceparent
from libs.contracts.errors import InvalidInput, StudiosError, Unavailable, error_from_dict
from libs.contracts.subjects import command_subject

log = logging.getLogger("studios.bus.commands")

C = TypeVar("C", bound=Command)
Handler = Callable[[C, CommandMeta], Awaitable[Reply | dict[str, Any] | None]]


def queue_group(service: str) -> str:
    return f"studios-{service}"


def meta_headers(meta: CommandMeta) -> dict[str, str]:
    out = {h.COMMAND_ID: str(meta.command_id)}
    for name, value in ((h.CORRELATION_ID, meta.correlation_id), (h.TRACEPARENT, meta.traceparent),
                        (h.ORIGIN, meta.origin)):
        if value:
            out[name] = value
    return out


def meta_from_headers(headers: Mapping[str, str] | None) -> CommandMeta:
    """The envelope a request carries; a missing or malformed command id is replaced by a fresh one."""
    headers = headers or {}
    try:
        command_id = uuid.UUID(headers.get(h.COMMAND_ID) or "")
    except ValueError:
        command_id = uuid.uuid4()
    return CommandMeta(command_id=command_id, correlation_id=headers.get(h.CORRELATION_ID) or None,
                       traceparent=valid_traceparent(headers.get(h.TRACEPARENT)),
                       origin=headers.get(h.ORIGIN) or None)


def _as_reply(value: Reply | dict[str, Any] | None) -> Reply:
    if isinstance(value, Reply):
        return value
    return Reply(result=value)


def _invalid(e: pydantic.ValidationError | ValueError) -> Reply:
    if isinstance(e, pydantic.ValidationError):
        errors = [{"loc": list(x["loc"]), "msg": x["msg"], "type": x["type"]} for x in e.errors()]
        return Reply(ok=False, error=InvalidInput("the command does not validate", errors=errors).to_dict())
    return Reply(ok=False, error=InvalidInput(f"the command is not JSON: {e}").to_dict())


class CommandServer:
    """Registers command handlers as subscribers on a FastStream broker (before ``broker.start()``)."""

    def __init__(self, broker: NatsBroker, service: str, *, max_workers: int = 16) -> None:
        # Commands are handled concurrently (FastStream's default is one at a time, which queued 50 concurrent
        # creates behind each other); handlers are safe to overlap: execute() retries on a version conflict.
        self.broker, self.service, self.max_workers = broker, service, max_workers

    def handle(self, command: type[C]) -> Callable[[Handler[C]], Handler[C]]:
        def register(handler: Handler[C]) -> Handler[C]:
            subject = command_subject(command.service, command.name)

            async def on_request(msg: NatsMessage) -> dict[str, Any]:
                # a requester that asked for heartbeats hears from this replica while the command runs
                async with heartbeats.beating(self.broker.connection, msg.reply_to, msg.headers):
                    reply = await self.dispatch(command, handler, msg.body, meta_from_headers(msg.headers))
                return reply.model_dump(mode="json", exclude_none=True)

            self.broker.subscriber(subject, queue=queue_group(self.service), max_workers=self.max_workers)(on_request)
            return handler

        return register

    async def dispatch(self, command: type[C], handler: Handler[C], body: bytes,
                       meta: CommandMeta | None = None) -> Reply:
        try:
            cmd = command.model_validate_json(body or b"{}")
        except pydantic.ValidationError as e:
            return _invalid(e)
        try:
            return _as_reply(await handler(cmd, meta or CommandMeta()))
        except StudiosError as e:
            return Reply(ok=False, error=e.to_dict())
        except pydantic.ValidationError as e:
            return _invalid(e)
        except Exception:
            log.exception("command %s.%s failed", command.service, command.name)
            return Reply(ok=False, error=StudiosError("the command failed unexpectedly").to_dict())


class CommandClient:
    """Sends commands and returns their ``Reply``; raises the typed error when the reply is not ok."""

    def __init__(self, conn: NatsBroker | nats.aio.client.Client, *, timeout: float = 10.0) -> None:
        self._conn, self.timeout = conn, timeout

    @property
    def nc(self) -> nats.aio.client.Client:
        return self._conn.connection if isinstance(self._conn, NatsBroker) else self._conn

    async def send(self, cmd: Command, *, timeout: float | None = None, headers: dict[str, str] | None = None,
                   meta: CommandMeta | None = None, heartbeat: float | None = None) -> Reply:
        """``meta``: the command's envelope; without one the server makes a fresh command id (no retry safety).
        ``heartbeat``: for long commands, the server says every that many seconds that it is still at work, and
        a replica that died holding the command is noticed (``heartbeats.ResponderLost``) long before ``timeout``."""
        subject = command_subject(cmd.service, cmd.name)
        if meta is not None:
            headers = {**(headers or {}), **meta_headers(meta)}
        data = cmd.model_dump_json().encode()
        try:
            if heartbeat:
                msg = await heartbeats.request(self.nc, subject, data, headers, every=heartbeat,
                                               timeout=timeout or self.timeout)
            else:
                msg = await self.nc.request(subject, data, timeout=timeout or self.timeout, headers=headers)
        except nats.errors.NoRespondersError:
            raise Unavailable(f"no {cmd.service} service answers {cmd.name}") from None
        except nats.errors.TimeoutError:
            raise Unavailable(f"{cmd.service} did not answer {cmd.name} in time") from None
        try:
            reply = Reply.model_validate(json.loads(msg.data))
        except (ValueError, pydantic.ValidationError) as e:
            raise StudiosError(f"unreadable reply to {cmd.name}: {e}") from None
        if not reply.ok:
            raise error_from_dict(reply.error or {})
        return reply
