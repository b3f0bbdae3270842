"""The ``studios`` command: run the system, read its events, steer its consumers, replay history."""

from __future__ import annotations

import subprocess
from pathlib import Path

import asyncpg
import typer

from libs.platform.cli import bus as cli_bus
from libs.platform.cli import checkpoints as cli_checkpoints
from libs.platform.cli import events as cli_events
from libs.platform.cli import logs as cli_logs
from libs.platform.cli import parked as cli_parked
from libs.platform.cli import pools as cli_pools
from libs.platform.cli import projections as cli_projections
from libs.platform.cli.common import fail, load_settings, overrides

app = typer.Typer(help="Studios: interactive analysis environments on an event-sourced control plane.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
app.add_typer(cli_events.app, name="events")
app.add_typer(cli_checkpoints.app, name="checkpoints")
app.add_typer(cli_projections.app, name="projections")
app.add_typer(cli_parked.app, name="parked")
app.add_typer(cli_bus.relay_app, name="relay")
app.command("replay")(cli_bus.replay_command)
app.command("asyncapi")(cli_bus.asyncapi_command)
app.command("logs")(cli_logs.logs_command)
app.command("pools")(cli_pools.pools_command)


@app.callback()
def root(
    data_dir: Path | None = typer.Option(None, "--data-dir",
                                         help="Where the embedded servers and the admin token live "
                                              "(STUDIOS_DATA_DIR, default .studios)."),
) -> None:
    if data_dir is not None:
        overrides["data_dir"] = data_dir


@app.command()
def up(
    port: int | None = typer.Option(None, "--port", help="Gateway port (STUDIOS_PORT, default 8080)."),
    host: str | None = typer.Option(None, "--host", help="Gateway address (STUDIOS_HOST, default 127.0.0.1)."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Data dir (STUDIOS_DATA_DIR, default .studios)."),
    service: list[str] = typer.Option([], "--service", "-s",
                                      help="Run only these services (repeatable; default: all)."),
    replicas: int = typer.Option(1, "--replicas", min=1, envvar="STUDIOS_REPLICAS",
                                 help="Processes of each service; gateway n listens on --port + n - 1."),
) -> None:
    """Start PostgreSQL and NATS (unless DATABASE_URL / NATS_URL name servers) and every service; Ctrl-C stops."""
    from libs.platform.cli.up import up as run_up

    settings = load_settings(port=port, host=host, data_dir=data_dir)
    try:
        code = run_up(settings, service or None, replicas)
    except ValueError as e:
        raise fail(str(e), 2) from None
    except (RuntimeError, TimeoutError, OSError, subprocess.SubprocessError, asyncpg.PostgresError) as e:
        raise fail(f"cannot start: {e}") from None
    raise typer.Exit(code)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
