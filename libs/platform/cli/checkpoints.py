"""``studios checkpoints``: where each projection, relay and consumer stands; reset, pause, resume."""

from __future__ import annotations

import json

import typer
from rich.table import Table
from rich.text import Text

from libs.eventstore import checkpoints
from libs.eventstore.checkpoints import CheckpointInfo
from libs.platform.cli.common import CliError, console, load_settings, open_store, position_at, run

app = typer.Typer(help="Inspect and steer consumer checkpoints.", no_args_is_help=True)


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="One JSON object per line.")) -> None:
    """Every checkpoint: position, paused, last error."""

    async def go() -> list[CheckpointInfo]:
        async with open_store(load_settings()) as store:
            return await checkpoints.list_all(store.pool)

    items = run(go())
    if not as_json:
        _print(items)
        return
    for c in items:
        print(json.dumps({"name": c.name, "tx_id": c.position.tx_id, "global_position": c.position.global_position,
                          "paused": c.paused, "error": c.error, "updated_at": c.updated_at.isoformat()}))


def _print(items: list[CheckpointInfo]) -> None:
    if not items:
        console.print("no checkpoints yet")
        return
    table = Table()
    table.add_column("name", no_wrap=True)
    for col in ("position", "tx", "paused", "error", "updated at"):
        table.add_column(col, overflow="fold")
    for c in items:
        table.add_row(Text(c.name), str(c.position.global_position), str(c.position.tx_id),
                      "yes" if c.paused else "", Text(c.error or ""), c.updated_at.isoformat(timespec="seconds"))
    console.print(table)


@app.command()
def reset(
    name: str = typer.Argument(..., help="Checkpoint name."),
    to_position: int = typer.Option(0, "--to-position", min=0,
                                    help="Resume after this global position (0: from the start)."),
) -> None:
    """Move a checkpoint back (or forward): its consumer reprocesses from there. Pause it first if it is live."""

    async def go() -> None:
        async with open_store(load_settings()) as store:
            target = await position_at(store, to_position)
            if not await checkpoints.reset(store.pool, name, target):
                raise CliError(f"no checkpoint named {name}")

    run(go())
    console.print(f"checkpoint {name} reset to global position {to_position}", markup=False)


def _set_paused(name: str, paused: bool) -> None:
    async def go() -> None:
        async with open_store(load_settings()) as store:
            if not await checkpoints.set_paused(store.pool, name, paused):
                raise CliError(f"no checkpoint named {name}")

    run(go())
    console.print(f"checkpoint {name} {'paused' if paused else 'resumed'}", markup=False)


@app.command()
def pause(name: str = typer.Argument(..., help="Checkpoint name.")) -> None:
    """Pause a consumer: it stops taking events until resumed."""
    _set_paused(name, True)


@app.command()
def resume(name: str = typer.Argument(..., help="Checkpoint name.")) -> None:
    """Resume a paused consumer."""
    _set_paused(name, False)
