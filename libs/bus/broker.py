"""The FastStream broker factory: one place for connection options, publish timeout and logging.

FastStream's JetStream publish timeout is hard-coded to 0.5 s per call (``NatsBroker.publish`` and
``broker.publisher``); under load or on a slow disk an ack can take longer, and a timed-out publish is a failed
publish. ``StudiosBroker`` only changes that default. Its ``js`` and ``nc`` give the underlying nats-py objects for
the few places that need them (the relay's pipelined ``publish_async``, stream management). Nothing connects here:
``await broker.start()`` (or a FastStream app's lifespan) does.
"""

from __future__ import annotations

import logging
from typing import Any

import nats.aio.client
import nats.js
from faststream.nats import NatsBroker

#: JetStream publish/ack timeout, seconds: generous enough for an fsync-heavy disk, short enough to notice trouble.
PUBLISH_TIMEOUT = 10.0

_quiet = logging.getLogger("studios.bus.quiet")
_quiet.setLevel(logging.WARNING)


class StudiosBroker(NatsBroker):
    """A ``NatsBroker`` whose publishes default to ``publish_timeout`` instead of 0.5 s."""

    def __init__(self, *args: Any, publish_timeout: float = PUBLISH_TIMEOUT, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.publish_timeout = publish_timeout

    async def publish(  # type: ignore[override]
            self, *args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        return await super().publish(  # type: ignore[call-overload]
            *args, timeout=timeout or self.publish_timeout, **kwargs)

    def publisher(self, *args: Any, timeout: float | None = None, **kwargs: Any) -> Any:  # type: ignore[override]
        return super().publisher(*args, timeout=timeout or self.publish_timeout, **kwargs)

    @property
    def nc(self) -> nats.aio.client.Client:
        """The nats-py connection (only after ``start()``/``connect()``)."""
        return self.connection

    @property
    def js(self) -> nats.js.JetStreamContext:
        """The nats-py JetStream context, sharing the broker's connection."""
        return self.config.broker_config.connection_state.stream  # type: ignore[attr-defined,no-any-return]


def make_broker(nats_url: str | list[str], *, name: str, quiet: bool = False,
                publish_timeout: float = PUBLISH_TIMEOUT, **options: Any) -> StudiosBroker:
    """A broker for service ``name`` (shown in NATS connection lists).

    ``quiet=True`` logs only warnings and errors: FastStream's per-message info logging costs ~25% on hot paths.
    Extra ``options`` go to ``NatsBroker`` unchanged.
    """
    if quiet:
        options.setdefault("logger", _quiet)
        options.setdefault("log_level", logging.DEBUG)
    options.setdefault("max_reconnect_attempts", -1)  # keep trying: NATS restarts must not end a service
    options.setdefault("reconnect_time_wait", 1)
    return StudiosBroker(nats_url, name=name, publish_timeout=publish_timeout, **options)
