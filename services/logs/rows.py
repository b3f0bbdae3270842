"""A ``LOGS`` message as rows of ``logs.lines``, decoded on the hot path (no model per line, no copy).

orjson straight from the message's bytes, the time with ``datetime.fromisoformat``, and the message's stream
sequence from its ack subject: about a microsecond or two a line, where a pydantic model or nats-py's metadata
parse would cost several.
"""

from __future__ import annotations

from datetime import datetime

import orjson
from nats.aio.msg import Msg

from libs.logs.lines import KINDS, SOURCES, STREAMS, parse_time

COLUMNS = ("kind", "id", "run", "created_at", "source", "seq", "stream", "message", "final", "js_seq")
Row = tuple[str, str, int, datetime, str, int, str, str, bool, int]


def decode(data: bytes, js_seq: int) -> tuple[list[Row], int]:
    """The rows of one message (one line, or a pack of them: ``libs.logs.lines``; a pack's lines share its stream
    sequence) and how many of its items are not log lines (passed over; an unreadable message counts as one)."""
    try:
        d = orjson.loads(data)
    except ValueError:  # orjson.JSONDecodeError is a ValueError
        return [], 1
    items = d if isinstance(d, list) else (d,)
    rows = [r for r in (_row(x, js_seq) for x in items) if r is not None]
    return rows, len(items) - len(rows)


def _row(d: object, js_seq: int) -> Row | None:
    if not isinstance(d, dict):
        return None
    try:
        kind, stream, source, message = d["kind"], d["stream"], d["source"], d["message"]
        if kind not in KINDS or stream not in STREAMS or source not in SOURCES or not isinstance(message, str):
            return None
        if "\x00" in message:
            message = message.replace("\x00", "\ufffd")  # text cannot hold NUL
        return (kind, str(d["id"]), int(d["run"]), parse_time(d["createdAt"]), source, int(d["seq"]), stream,
                message, bool(d.get("final", False)), js_seq)
    except (ValueError, KeyError, TypeError):
        return None


def stream_seq(msg: Msg) -> int:
    """The message's ``LOGS`` sequence from its ack subject, without nats-py's full metadata parse (a hot path):
    ``$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>…`` (9 tokens), or with domain and account hash (12)."""
    tokens = (msg.reply or "").split(".")
    at = 5 if len(tokens) == 9 else 7 if len(tokens) >= 12 else -1
    if at > 0 and tokens[at].isdigit():
        return int(tokens[at])
    return int(msg.metadata.sequence.stream)


def reply_seq(reply: bytes) -> int:
    """``stream_seq`` from a raw frame's ack subject (``pull.Frame``); ``ValueError`` for one of another form."""
    tokens = reply.split(b".")
    at = 5 if len(tokens) == 9 else 7 if len(tokens) >= 12 else -1
    if at < 0 or not tokens[at].isdigit():
        raise ValueError(f"not a JetStream ack subject: {reply!r}")
    return int(tokens[at])
