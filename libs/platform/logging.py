"""Process-wide logging: one line per record, key=value for people or JSON for machines, tagged with the service.

structlog renders both its own loggers and the standard library's (asyncpg, nats, faststream, uvicorn, our
``logging.getLogger`` users) through one handler on the root logger. Calling ``configure_logging`` again replaces
that handler, so it is safe to call from a CLI and again from a service's entry point.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

#: Libraries that are chatty at INFO; they still log warnings and errors.
QUIET = ("asyncio", "asyncpg", "nats", "faststream", "uvicorn.access", "httpx", "httpcore", "websockets",
         "watchfiles")

_HANDLER_MARK = "_studios_handler"


def _add_service(service: str) -> structlog.types.Processor:
    def processor(_logger: Any, _name: str, event_dict: structlog.types.EventDict) -> structlog.types.EventDict:
        event_dict.setdefault("service", service)
        return event_dict

    return processor


def _shared_processors(service: str) -> list[structlog.types.Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        _add_service(service),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
    ]


def _renderer(json: bool) -> structlog.types.Processor:
    if json:
        return structlog.processors.JSONRenderer()
    return structlog.processors.KeyValueRenderer(key_order=["timestamp", "level", "service", "logger", "event"],
                                                 drop_missing=True)


def configure_logging(level: str | int = "INFO", json: bool = False, service: str = "studios") -> None:
    """Send every log record to stderr as one key=value (or JSON) line carrying ``service``. Idempotent."""
    shared = _shared_processors(service)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, structlog.processors.format_exc_info,
                    _renderer(json)],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)


def get_logger(name: str) -> Any:
    """A structlog logger bound to ``name`` (``log.info("event", key=value)``)."""
    return structlog.stdlib.get_logger(name)
