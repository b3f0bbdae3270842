"""``studios relay status``, ``studios replay`` and ``studios asyncapi``: the bus side of the event store.

``libs.bus`` is imported inside the commands, so the rest of the CLI works whatever state that package is in.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from libs.platform.cli.common import (
    CliError,
    console,
    ensure_runtime_dir,
    fail,
    load_settings,
    open_store,
    run,
)
from libs.platform.settings import PlatformSettings

relay_app = typer.Typer(help="The relay from the event store to JetStream.", no_args_is_help=True)


def _bus(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(f"libs.bus.{module}")
    except ImportError as e:
        raise CliError(f"libs.bus.{module} is not available: {e}") from None


@relay_app.command("status")
def relay_status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Relay checkpoint, store head, lag, and the current leader's connection."""

    async def go() -> dict[str, Any]:
        relay = _bus("relay")
        async with open_store(load_settings()) as store:
            status: dict[str, Any] = await relay.relay_status(store)
            return status

    status = run(go())
    if as_json:
        print(json.dumps(status, default=str))
        return
    table = Table(show_header=False)
    for key, value in status.items():
        table.add_row(key, Text("-" if value is None else json.dumps(value, default=str).strip('"')))
    console.print(table)


@contextlib.asynccontextmanager
async def _jetstream(settings: PlatformSettings) -> AsyncIterator[Any]:
    """JetStream on ``NATS_URL``, else on the data dir's embedded nats-server (started for the command if down)."""
    import nats

    from libs.platform.infra import EmbeddedNats

    url, server = settings.nats_url, None
    if not url:
        ensure_runtime_dir(settings.data_dir)
        server = EmbeddedNats(settings.data_dir.resolve() / "nats", sync_interval=settings.nats_sync_interval)
        url = server.start()
    try:
        nc = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=1)
        try:
            yield nc.jetstream()
        finally:
            await nc.drain()
    finally:
        if server is not None:
            server.stop()


@contextlib.contextmanager
def _nats_errors() -> Any:
    from nats.errors import Error as NatsError

    try:
        yield
    except NatsError as e:
        raise CliError(f"NATS: {type(e).__name__}: {e}") from None


def replay_command(
    from_position: int = typer.Option(0, "--from-position", min=0, help="First global position (inclusive)."),
    until_position: int | None = typer.Option(None, "--until-position", min=0,
                                              help="Last global position (inclusive; default: the head now)."),
    category: list[str] = typer.Option([], "--category", "-c", help="Only these categories (repeatable)."),
    subject_prefix: str | None = typer.Option(None, "--subject-prefix",
                                              help="Publish under <prefix>.<replay id>.<category>.<type>."),
    replay_id: str | None = typer.Option(None, "--replay-id",
                                         help="Name of this replay; rerunning with it resumes (default: new)."),
) -> None:
    """Republish stored history to JetStream (the REPLAY stream by default) for late or rebuilt subscribers."""
    rid = replay_id or uuid.uuid4().hex[:12]

    async def go() -> int:
        replay, streams = _bus("replay"), _bus("streams")
        settings = load_settings()
        extra: dict[str, Any] = {"subject_prefix": subject_prefix} if subject_prefix else {}
        with _nats_errors():
            async with open_store(settings) as store, _jetstream(settings) as js:
                await streams.ensure_streams(js)
                try:
                    count: int = await replay.replay(store, js, replay_id=rid, from_position=from_position,
                                                     until_position=until_position, categories=category or None,
                                                     **extra)
                except ValueError as e:
                    raise CliError(str(e)) from None
                return count

    count = run(go())
    console.print(f"replay {rid}: published {count} events", markup=False)


def asyncapi_command(
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout."),
    version: str = typer.Option("3.0.0", "--asyncapi-version", help="AsyncAPI version: 3.0.0 or 2.6.0."),
) -> None:
    """The AsyncAPI document of studios.events.<category>.<event_type>, with each event's JSON schema."""
    from libs.platform.cli.asyncapi import asyncapi_document

    if version not in ("3.0.0", "2.6.0"):
        raise fail("--asyncapi-version is 3.0.0 or 2.6.0", 2)
    server = load_settings().nats_url or "nats://127.0.0.1:4222"
    text = json.dumps(asyncapi_document(server, schema_version=version), indent=2)
    if output is None:
        print(text)
        return
    output.write_text(text + "\n")
    console.print(f"wrote {output}", markup=False)
