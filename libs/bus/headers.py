"""The message contract for events on JetStream (``EVENTS`` and ``REPLAY``); outside subscribers rely on it.

Subject   ``studios.events.<category>.<event_type>`` (live) or
          ``studios.replay.<replay id>.<category>.<event_type>`` (a replay); ``category`` is the part of the stream
          name before the first ``-``. Characters NATS reserves in a token (``.``, ``*``, ``>``, whitespace) are
          replaced by ``_``.
Payload   the event's ``data`` as UTF-8 JSON (an object; key order is not significant). Nothing else: the envelope
          travels in headers (STYLE §4).
Headers   (all strings)
  ``Nats-Msg-Id``               event id (uuid); a replay uses ``<event id>:<replay id>``. JetStream dedup key.
  ``Studios-Event-Id``          event id (uuid), also on replays
  ``Studios-Global-Position``   the event's global position in the store (integer)
  ``Studios-Tx-Id``             the id of the transaction that committed it (integer; commit order is
                                ``(tx id, global position)``)
  ``Studios-Stream``            the event stream, ``<category>-<id>``
  ``Studios-Stream-Position``   position within that stream, from 0, gapless
  ``Studios-Event-Type``        e.g. ``StudioCreated``
  ``Studios-Schema-Version``    integer, upcast on read by subscribers that know older versions
  ``Studios-Recorded-At``       ISO 8601 with time zone
  ``Studios-Correlation-Id``, ``Studios-Causation-Id``, ``traceparent``   copied from the event metadata when present
  ``Studios-Replay-Id``         only on replays

Within one stream, messages reach JetStream in stream-position order (the relay publishes in commit order),
except after a failed publish: the relay republishes from its checkpoint, dedup drops what was already stored,
and the one that failed lands after later ones. Consumers that need strict order use ``Studios-Stream-Position``.
A consumer keys its idempotency on ``Studios-Event-Id`` (or on stream name + position).

Command requests (``studios.cmd.<service>.<command>``, ``libs.bus.commands``) carry their envelope in headers too:
``Studios-Command-Id`` (uuid; the ids of the events the command decides derive from it), ``Studios-Correlation-Id``,
``traceparent`` and ``Studios-Origin`` (the sending service).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

MSG_ID = "Nats-Msg-Id"
EVENT_ID = "Studios-Event-Id"
GLOBAL_POSITION = "Studios-Global-Position"
TX_ID = "Studios-Tx-Id"
STREAM = "Studios-Stream"
STREAM_POSITION = "Studios-Stream-Position"
EVENT_TYPE = "Studios-Event-Type"
SCHEMA_VERSION = "Studios-Schema-Version"
RECORDED_AT = "Studios-Recorded-At"
CORRELATION_ID = "Studios-Correlation-Id"
CAUSATION_ID = "Studios-Causation-Id"
TRACEPARENT = "traceparent"
REPLAY_ID = "Studios-Replay-Id"
COMMAND_ID = "Studios-Command-Id"
ORIGIN = "Studios-Origin"

_RESERVED = re.compile(r"[.*>\s]")


@lru_cache(maxsize=4096)
def subject_token(value: str) -> str:
    """``value`` made safe as one NATS subject token."""
    return _RESERVED.sub("_", value) or "_"


@dataclass(frozen=True, slots=True)
class Envelope:
    """What a subscriber learns from a message's headers."""

    event_id: uuid.UUID
    global_position: int
    tx_id: int
    stream: str
    stream_position: int
    event_type: str
    schema_version: int
    recorded_at: datetime
    correlation_id: str | None = None
    causation_id: str | None = None
    traceparent: str | None = None
    replay_id: str | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> Envelope:
        return cls(uuid.UUID(headers[EVENT_ID]), int(headers[GLOBAL_POSITION]), int(headers[TX_ID]),
                   headers[STREAM], int(headers[STREAM_POSITION]), headers[EVENT_TYPE],
                   int(headers[SCHEMA_VERSION]), datetime.fromisoformat(headers[RECORDED_AT]),
                   headers.get(CORRELATION_ID), headers.get(CAUSATION_ID), headers.get(TRACEPARENT),
                   headers.get(REPLAY_ID))
