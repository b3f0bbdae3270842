"""``studios events``: read the store in commit order, or one stream's history."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from libs.eventstore import START, EventStore, Position, RecordedEvent
from libs.platform.cli.common import console, load_settings, open_store, position_at, run

app = typer.Typer(help="Read events from the event store.", no_args_is_help=True)

POLL_SECONDS = 0.5


def as_dict(e: RecordedEvent) -> dict[str, Any]:
    return {"global_position": e.global_position, "tx_id": e.tx_id, "stream": e.stream_name,
            "stream_position": e.stream_position, "event_id": str(e.event_id), "event_type": e.event_type,
            "schema_version": e.schema_version, "data": e.data, "metadata": e.metadata,
            "recorded_at": e.recorded_at.isoformat()}


def _line(e: RecordedEvent, as_json: bool) -> str:
    if as_json:
        return json.dumps(as_dict(e), separators=(",", ":"))
    return f"{e.global_position:>8}  {e.stream_name}  {e.event_type}  {json.dumps(e.data, separators=(',', ':'))}"


async def _tail(store: EventStore, categories: Sequence[str], start: int, follow: bool, as_json: bool) -> None:
    after = START
    if start > 1:  # inclusive: stand just before the event at ``start`` in its transaction
        after = Position((await position_at(store, start)).tx_id, start - 1)
    while True:
        batch = await store.read_all(after, categories=list(categories) or None, limit=500)
        for e in batch:
            print(_line(e, as_json), flush=follow)
        if batch:
            after = batch[-1].position
        elif not follow:
            return
        else:
            await asyncio.sleep(POLL_SECONDS)


@app.command()
def tail(
    category: list[str] = typer.Option([], "--category", "-c", help="Only these stream categories (repeatable)."),
    start: int = typer.Option(0, "--from", min=0, help="Start at this global position (inclusive)."),
    follow: bool = typer.Option(True, "--follow/--no-follow", help="Keep polling for new events."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """Print events in commit order: global position, stream, type, data."""

    async def go() -> None:
        async with open_store(load_settings()) as store:
            await _tail(store, category, start, follow, as_json)

    run(go())


@app.command()
def stream(
    name: str = typer.Argument(..., help="Stream name, e.g. studio-1234."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """Print one stream's history."""

    async def go() -> list[RecordedEvent]:
        async with open_store(load_settings()) as store:
            return await store.read_stream(name)

    events = run(go())
    if as_json:
        for e in events:
            print(_line(e, True))
        return
    if not events:
        console.print(f"stream {name} has no events", markup=False)
        return
    table = Table(title=name, title_justify="left")
    for col in ("#", "global", "type", "v", "recorded at", "data"):
        table.add_column(col, overflow="fold")
    for e in events:
        table.add_row(str(e.stream_position), str(e.global_position), e.event_type, str(e.schema_version),
                      e.recorded_at.isoformat(timespec="seconds"), Text(json.dumps(e.data)))
    console.print(table)
