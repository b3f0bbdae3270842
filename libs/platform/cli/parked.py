"""``studios parked``: events a consumer could not apply (``es.parked``): list them, ask for a retry, discard.

A retry is carried out by the consumer itself on its next poll (it alone has the handler): this command only marks
the rows. Retrying an event retries every later parked event of its stream with it, in stream order, since those
were held behind it.
"""

from __future__ import annotations

import json
import uuid

import typer
from rich.text import Text

from libs.eventstore import parked
from libs.eventstore.parked import ParkedEvent
from libs.platform.cli.common import CliError, console, load_settings, open_store, run

app = typer.Typer(help="Events consumers parked: list, retry, discard.", no_args_is_help=True)


def _event_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise CliError(f"not an event id: {text!r}") from None


def _json(p: ParkedEvent) -> str:
    return json.dumps({"consumer": p.consumer, "event_id": str(p.event_id), "global_position": p.global_position,
                       "stream": p.stream_name, "stream_position": p.stream_position, "type": p.event_type,
                       "held": p.held, "attempts": p.attempts, "error": p.error,
                       "parked_at": p.parked_at.isoformat(),
                       "retry_requested_at": p.retry_requested_at.isoformat() if p.retry_requested_at else None})


@app.command("list")
def list_(consumer: str | None = typer.Option(None, "--consumer", "-c", help="Only this consumer's."),
          as_json: bool = typer.Option(False, "--json", help="One JSON object per line.")) -> None:
    """Every parked event: failed (tried and given up on) or held (behind a failed one of the same stream)."""

    async def go() -> list[ParkedEvent]:
        async with open_store(load_settings()) as store:
            return await parked.list_parked(store.pool, consumer)

    rows = run(go())
    if as_json:
        for p in rows:
            print(_json(p))
        return
    if not rows:
        console.print("nothing is parked")
        return
    for p in rows:  # lines, not a table: ids and errors are too wide for columns
        state = "held" if p.held else f"failed after {p.attempts} tries"
        if p.retry_requested_at:
            state += ", retry asked"
        console.print(Text(f"{p.consumer}  {p.stream_name}@{p.stream_position}  {p.event_type}  {state}  "
                           f"{p.event_id}  parked {p.parked_at.isoformat(timespec='seconds')}"))
        console.print(Text(f"    {p.error}"))


@app.command()
def retry(event_id: str | None = typer.Argument(None, help="The parked event (and its stream's later ones)."),
          consumer: str | None = typer.Option(None, "--consumer", "-c", help="Only for this consumer."),
          every: bool = typer.Option(False, "--all", help="Everything the consumer (--consumer) parked.")) -> None:
    """Ask the consumer to apply parked events again, in stream order, on its next poll."""

    async def go() -> int:
        if event_id is None and not (every and consumer):
            raise CliError("name an event id, or --all with --consumer")
        async with open_store(load_settings()) as store:
            return await parked.request_retry(store.pool, consumer=consumer,
                                              event_id=_event_id(event_id) if event_id else None)

    n = run(go())
    if n == 0:
        console.print("nothing parked matches", markup=False)
        raise typer.Exit(1)
    console.print(f"{n} parked event(s) marked for retry; their consumer applies them on its next poll "
                  "(studios parked list shows what is left)", markup=False)


@app.command()
def discard(event_id: str = typer.Argument(..., help="The parked event to drop."),
            consumer: str | None = typer.Option(None, "--consumer", "-c", help="Only for this consumer.")) -> None:
    """Drop a parked event for good.

    Later parked events of its stream stay held: a folding projection never applies them over the hole (rebuild
    it instead)."""

    async def go() -> int:
        async with open_store(load_settings()) as store:
            return await parked.discard(store.pool, _event_id(event_id), consumer)

    n = run(go())
    if n == 0:
        console.print("nothing parked matches", markup=False)
        raise typer.Exit(1)
    console.print(f"discarded {n} parked event(s)", markup=False)
