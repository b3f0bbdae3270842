"""``studios projections``: the read models, where they stand, and blue/green rebuilds.

The projections are the services': each registers a catalog under the entry point group ``studios.projections``
(``libs/eventstore/projections.py``), so this module finds them without importing ``services/``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer
from rich.table import Table
from rich.text import Text

from libs.eventstore import EventStore, migrate
from libs.eventstore.projections import ProjectionCatalog, ProjectionStatus, registered
from libs.platform.cli.common import CliError, console, load_settings, open_store, run

app = typer.Typer(help="Inspect and rebuild read models (projections).", no_args_is_help=True)

T = TypeVar("T")
_COLUMNS = ("name", "state", "version", "building", "position", "lag", "parked", "updated_at")


def _row(s: ProjectionStatus) -> dict[str, Any]:
    return {"name": s.name, "state": s.state, "version": s.version, "building": s.building,
            "checkpoint": s.checkpoint, "position": s.position.global_position, "lag": s.lag, "parked": s.parked,
            "error": s.error, "updated_at": s.updated_at.isoformat() if s.updated_at else None}


def _catalogs() -> list[ProjectionCatalog]:
    found = registered()
    if not found:
        raise CliError("no projections are registered (entry point group studios.projections): "
                       "is the package installed? (make venv)")
    return found


def _owner(name: str) -> ProjectionCatalog:
    catalogs = _catalogs()
    for catalog in catalogs:
        if name in catalog.names():
            return catalog
    known = sorted(n for c in catalogs for n in c.names())
    raise CliError(f"unknown projection {name!r}; known: {', '.join(known)}")


async def _with(catalogs: list[ProjectionCatalog], action: Callable[[EventStore], Awaitable[T]]) -> T:
    async with open_store(load_settings()) as store:
        async with store.pool.acquire() as conn:
            await migrate(conn, *(m for c in catalogs for m in c.migrations))
        return await action(store)


@app.command()
def status(name: str | None = typer.Argument(None, help="One projection (default: all)."),
           as_json: bool = typer.Option(False, "--json")) -> None:
    """State (ok, failing, paused, building), serving version, checkpoint, lag, parked events and last error."""

    async def go() -> list[ProjectionStatus]:  # inside run(): an unknown name is a one-line error
        catalogs = [_owner(name)] if name else _catalogs()

        async def every(store: EventStore) -> list[ProjectionStatus]:
            return [s for c in catalogs for s in await c.status(store, name)]

        return await _with(catalogs, every)

    rows = sorted((_row(s) for s in run(go())), key=lambda r: str(r["name"]))
    if as_json:
        for r in rows:
            print(json.dumps(r))
        return
    table = Table()
    for col in _COLUMNS:
        table.add_column(col, no_wrap=col in ("name", "state"))
    for r in rows:
        table.add_row(*(Text(str(r[c]) if r[c] is not None else "") for c in _COLUMNS))
    console.print(table)
    for r in rows:  # below the table: an error line is too long for a column
        if r["error"]:
            console.print(Text(f"{r['name']}: {r['error']}"))


@app.command("rebuild")
def rebuild_(name: str = typer.Argument(..., help="The projection to rebuild, e.g. studios.")) -> None:
    """Rebuild from position zero into a new table version while the old one serves, then swap."""

    async def go() -> ProjectionStatus:
        catalog = _owner(name)
        console.print(f"rebuilding {name} from position 0 ...", markup=False)
        return await _with([catalog], lambda store: catalog.rebuild(store, name))

    s = _row(run(go()))
    console.print(f"{name}: now serving version {s['version']} at position {s['position']} (lag {s['lag']}, "
                  f"parked {s['parked']})", markup=False)
