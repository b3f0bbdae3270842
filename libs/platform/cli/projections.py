"""``studios projections``: the gateway's read models: where they stand, and blue/green rebuilds."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.table import Table

from libs.platform.cli.common import console, load_settings, open_store, run

app = typer.Typer(help="Inspect and rebuild read models (projections).", no_args_is_help=True)


def _row(s: Any) -> dict[str, Any]:
    return {"name": s.name, "version": s.version, "building": s.building, "checkpoint": s.checkpoint,
            "position": s.position.global_position, "lag": s.lag, "error": s.error,
            "updated_at": s.updated_at.isoformat() if s.updated_at else None}


async def _with_gateway_schema(action: Any) -> Any:
    # The read schema belongs to the gateway; importing it here keeps `studios` usable without it elsewhere.
    from libs.eventstore import migrate
    from services.gateway.read.schema import GATEWAY

    async with open_store(load_settings()) as store:
        async with store.pool.acquire() as conn:
            await migrate(conn, GATEWAY)
        return await action(store)


@app.command()
def status(name: str | None = typer.Argument(None, help="One projection (default: all)."),
           as_json: bool = typer.Option(False, "--json")) -> None:
    """Serving version, checkpoint, lag (events not yet applied) and last error of each projection."""
    from services.gateway.read.projections import rebuild

    rows = [_row(s) for s in run(_with_gateway_schema(lambda store: rebuild.status(store, name)))]
    if as_json:
        for r in rows:
            print(json.dumps(r))
        return
    table = Table()
    for col in ("name", "version", "building", "position", "lag", "error", "updated_at"):
        table.add_column(col)
    for r in rows:
        table.add_row(*(str(r[c] if r[c] is not None else "") for c in
                        ("name", "version", "building", "position", "lag", "error", "updated_at")))
    console.print(table)


@app.command("rebuild")
def rebuild_(name: str = typer.Argument(..., help="The projection to rebuild, e.g. studios.")) -> None:
    """Rebuild from position zero into a new table version while the old one serves, then swap."""
    from services.gateway.read.projections import rebuild

    console.print(f"rebuilding {name} from position 0 ...")
    s = _row(run(_with_gateway_schema(lambda store: rebuild.rebuild(store, name))))
    console.print(f"{name}: now serving version {s['version']} at position {s['position']} (lag {s['lag']})")
