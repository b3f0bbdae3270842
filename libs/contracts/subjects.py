"""NATS subject names: the one place they are spelled."""

from __future__ import annotations

EVENTS_STREAM = "EVENTS"
LOGS_STREAM = "LOGS"
EVENTS_PREFIX = "studios.events"
LOGS_PREFIX = "studios.logs"
COMMANDS_PREFIX = "studios.cmd"
REPLAY_PREFIX = "studios.replay"


def category_of(stream_name: str) -> str:
    return stream_name.split("-", 1)[0]


def event_subject(category: str, event_type: str, prefix: str = EVENTS_PREFIX) -> str:
    return f"{prefix}.{category}.{event_type}"


def command_subject(service: str, command: str) -> str:
    return f"{COMMANDS_PREFIX}.{service}.{command}"


def log_subject(kind: str, ident: str) -> str:
    if kind not in {"session", "build", "job"}:
        raise ValueError(f"unknown log kind {kind!r}")
    return f"{LOGS_PREFIX}.{kind}.{ident}"
