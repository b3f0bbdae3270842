"""Replays: history republished from the store for subscribers whose needs go past ``EVENTS`` retention.

A replay publishes the events whose global position lies in ``[from_position, until_position]`` (``until``
defaults to the head when the replay starts), in commit order, optionally only some categories, to
``<subject_prefix>.<replay id>.<category>.<event_type>`` (default prefix ``studios.replay``, captured by the
``REPLAY`` stream, never by ``EVENTS``), with the headers of ``headers.py`` plus ``Studios-Replay-Id``, and
``Nats-Msg-Id`` = ``<event id>:<replay id>``: a replay is never deduplicated against the live stream or another
replay, and a replay rerun with the same id publishes nothing twice. Progress is kept in the checkpoint row
``replay:<replay id>``, so a rerun resumes where the last one stopped (its unacknowledged tail falls inside the
duplicate window and is dropped by JetStream). A subscriber reads it with a consumer filtered on
``studios.replay.<replay id>.>``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import asyncpg
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from libs.bus.acks import AckWindow, connection_of
from libs.bus.headers import REPLAY_ID, subject_token
from libs.bus.publishing import Filters, Unguarded, event_headers, load_checkpoint, pump
from libs.bus.streams import DEFAULT
from libs.contracts.subjects import REPLAY_PREFIX
from libs.eventstore import EventStore

log = logging.getLogger("studios.bus.replay")

_REPLAY_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def replay_checkpoint(replay_id: str) -> str:
    return f"replay:{replay_id}"


async def replay(store: EventStore, js: JetStreamContext | NATS, *, replay_id: str, from_position: int = 0,
                 until_position: int | None = None, categories: Sequence[str] | None = None,
                 subject_prefix: str = REPLAY_PREFIX, window: int = 1000, batch: int = 1000,
                 ack_timeout: float = 10.0, stream: str | None = None) -> int:
    """Publish the range for ``replay_id``; returns how many messages this run published (repeats included).

    Only an ack from ``stream`` counts (default: ``REPLAY`` under the default prefix; under another prefix, whose
    stream this function cannot know, an ack from any stream)."""
    if not _REPLAY_ID.match(replay_id):
        raise ValueError("a replay id is 1-64 letters, digits, '_' or '-'")
    filters = Filters(categories=categories, min_global=from_position or None, max_global=until_position,
                      until=None if until_position is not None else await store.head())

    def message(row: asyncpg.Record) -> tuple[str, dict[str, str]]:
        subject = f"{subject_prefix}.{replay_id}.{subject_token(row['category'])}.{subject_token(row['event_type'])}"
        headers = event_headers(row, f"{row['event_id']}:{replay_id}")
        headers[REPLAY_ID] = replay_id
        return subject, headers

    if (at := await load_checkpoint(store, replay_checkpoint(replay_id))).global_position:
        log.info("replay %s: resuming after position %s", replay_id, at.global_position)
    if stream is None and subject_prefix == REPLAY_PREFIX:
        stream = DEFAULT.replay_stream
    async with AckWindow(connection_of(js), stream, window, ack_timeout) as acks:
        count = await pump(store, acks, replay_checkpoint(replay_id), batch=batch, message=message,
                           guard=Unguarded(store), filters=filters)
        log.info("replay %s: published %s (%s duplicates dropped)", replay_id, count, acks.duplicates)
    return count
