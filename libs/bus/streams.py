"""JetStream streams, created or updated idempotently at start-up by every service (``ensure_streams``).

``EVENTS``  ``studios.events.<category>.<event_type>``: the relayed event store. File storage, limits retention,
            a 15-minute duplicate window (``Nats-Msg-Id`` = event id), 30 days kept by default.
``REPLAY``  ``studios.replay.<replay id>.<category>.<event_type>``: history republished on demand (``replay.py``)
            for subscribers whose needs go past ``EVENTS`` retention. A separate stream and subject prefix, so a
            replayed event is never taken for a live one, its retention (7 days) is its own, and consumers of
            ``EVENTS`` never see it. Message ids are ``<event id>:<replay id>``.
``LOGS``    ``studios.logs.<kind>.<id>``: session/build/job output on its way into PostgreSQL. Limits retention,
            large ``max_bytes`` (oldest discarded first), file storage.

Durability: JetStream acknowledges a publish once the message is in the server's memory and written to the OS,
*before* it is fsynced; the server syncs to disk every 2 minutes by default (``sync_interval``, a server option,
not a stream one). A power loss can therefore lose up to that much acknowledged data. For ``EVENTS`` and
``REPLAY`` this is acceptable by design: PostgreSQL is the source of truth and the relay (or a replay) can
republish from it -- an operator who lost the JetStream tail resets the relay checkpoint
(``es.checkpoints`` row ``relay:EVENTS``) to a safe earlier position and dedup/consumers' idempotency absorb the
repeats. For ``LOGS`` a crash may drop the last seconds of tool output. Operators who want a tighter bound run
``nats-server --sync_interval 5s`` (or ``always``); ``libs.platform.infra.EmbeddedNats(sync_interval=...)`` passes
it on for the embedded server.

``Topology`` names the three streams and their subject prefixes; tests use ``Topology.unique()`` so their streams
never share subjects with another test's.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, replace
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from libs.contracts import subjects

log = logging.getLogger("studios.bus.streams")

DAY = 86_400.0
_STREAM_NAME_IN_USE = 10058


@dataclass(frozen=True)
class Topology:
    events_stream: str = subjects.EVENTS_STREAM
    events_prefix: str = subjects.EVENTS_PREFIX
    replay_stream: str = "REPLAY"
    replay_prefix: str = subjects.REPLAY_PREFIX
    logs_stream: str = subjects.LOGS_STREAM
    logs_prefix: str = subjects.LOGS_PREFIX
    duplicate_window: float = 15 * 60.0
    events_max_age: float = 30 * DAY
    replay_max_age: float = 7 * DAY
    logs_max_bytes: int = 10 * 1024**3

    @classmethod
    def unique(cls, tag: str = "t") -> Topology:
        """Streams and prefixes of their own (for tests): ``EVENTS_<tag><hex>`` on ``<tag><hex>.events.>`` etc."""
        u = f"{tag}{uuid.uuid4().hex[:10]}"
        return replace(cls(), events_stream=f"EVENTS_{u}", events_prefix=f"{u}.events",
                       replay_stream=f"REPLAY_{u}", replay_prefix=f"{u}.replay",
                       logs_stream=f"LOGS_{u}", logs_prefix=f"{u}.logs", logs_max_bytes=64 * 1024**2)

    def configs(self) -> list[StreamConfig]:
        common: dict[str, Any] = dict(storage=StorageType.FILE, retention=RetentionPolicy.LIMITS,
                                      discard=DiscardPolicy.OLD, num_replicas=1)
        return [
            StreamConfig(name=self.events_stream, subjects=[f"{self.events_prefix}.>"],
                         duplicate_window=self.duplicate_window, max_age=self.events_max_age,
                         description="Studios events relayed from the PostgreSQL event store", **common),
            StreamConfig(name=self.replay_stream, subjects=[f"{self.replay_prefix}.>"],
                         duplicate_window=self.duplicate_window, max_age=self.replay_max_age,
                         description="Studios event history republished on demand", **common),
            StreamConfig(name=self.logs_stream, subjects=[f"{self.logs_prefix}.>"],
                         max_bytes=self.logs_max_bytes, duplicate_window=120.0,
                         description="Studios session, build and job output", **common),
        ]


DEFAULT = Topology()


async def ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    """Create the stream, or update it to ``config`` (immutable fields such as storage must not differ)."""
    try:
        await js.stream_info(config.name or "")
    except NotFoundError:
        try:
            await js.add_stream(config)
            log.info("created stream %s", config.name)
            return
        except BadRequestError as e:  # another process created it in between (with other settings)
            if e.err_code != _STREAM_NAME_IN_USE:
                raise
    await js.update_stream(config)


async def ensure_streams(js: JetStreamContext, topology: Topology = DEFAULT) -> None:
    """Create or update ``EVENTS``, ``REPLAY`` and ``LOGS``; safe to call from every process at every start."""
    for config in topology.configs():
        await ensure_stream(js, config)


async def delete_streams(js: JetStreamContext, topology: Topology) -> None:
    """Remove a topology's streams (tests clean up after ``Topology.unique()``)."""
    for config in topology.configs():
        try:
            await js.delete_stream(config.name or "")
        except NotFoundError:
            pass
