"""How routes send commands: over NATS in production, in process in tests and the single-process mode.

Routes depend on ``CommandSender`` only. A failed command raises its typed ``StudiosError`` (mapped to HTTP by
``api.seqera.common.install_error_handlers``); ``checked`` turns an error reply into that exception
for senders that return it.
"""

from __future__ import annotations

from typing import Protocol

from libs.bus.commands import CommandClient
from libs.contracts.commands import Command, Reply
from libs.contracts.errors import error_from_dict


class CommandSender(Protocol):
    async def send(self, cmd: Command) -> Reply: ...


def checked(reply: Reply) -> Reply:
    if not reply.ok:
        raise error_from_dict(reply.error or {})
    return reply


class BusCommandSender:
    """Adapter over ``libs.bus.commands.CommandClient`` (which raises typed errors itself)."""

    def __init__(self, client: CommandClient, timeout: float = 10.0) -> None:
        self._client = client
        self._timeout = timeout

    async def send(self, cmd: Command) -> Reply:
        return checked(await self._client.send(cmd, timeout=self._timeout))
