"""``studios up``: infrastructure, migrations, the admin token, then every service under the supervisor."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from libs.eventstore import EventStore
from libs.platform.cli.common import console, ensure_runtime_dir, redact
from libs.platform.infra import Infrastructure, bring_up
from libs.platform.logging import configure_logging
from libs.platform.replicas import gateway_ports, replicate
from libs.platform.services import ServiceSpec, runnable, select
from libs.platform.settings import PlatformSettings
from libs.platform.signals import run_until_signalled
from libs.platform.supervisor import Supervisor

log = logging.getLogger("studios.up")

TOKEN_FILE = "admin-token"


@dataclass(frozen=True)
class AdminToken:
    value: str
    #: the file holding it; None when it came from STUDIOS_ADMIN_TOKEN
    path: Path | None
    generated: bool


def ensure_admin_token(settings: PlatformSettings, data_dir: Path) -> AdminToken:
    """``STUDIOS_ADMIN_TOKEN``, else ``<data dir>/admin-token``, else a new token written there (mode 0600)."""
    path = data_dir / TOKEN_FILE
    existing = settings.existing_admin_token()
    if existing is not None:
        from_env = settings.admin_token is not None and settings.admin_token.get_secret_value() == existing
        return AdminToken(existing, None if from_env else path, False)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return AdminToken(token, path, True)


def service_env(settings: PlatformSettings, infra: Infrastructure, data_dir: Path, token: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": infra.database_url,
        "NATS_URL": infra.nats_url,
        "STUDIOS_DATA_DIR": str(data_dir),
        "STUDIOS_PORT": str(settings.port),
        "STUDIOS_HOST": settings.host,
        "STUDIOS_ADMIN_TOKEN": token,
        "STUDIOS_LOG_LEVEL": settings.log_level,
        "STUDIOS_LOG_JSON": "true" if settings.log_json else "false",
        "PYTHONUNBUFFERED": "1",
    }


async def _migrate(database_url: str) -> None:
    store = await EventStore.connect(database_url, min_size=1, max_size=1)
    await store.close()


def _print_banner(settings: PlatformSettings, infra: Infrastructure, data_dir: Path, token: AdminToken,
                  started: list[ServiceSpec], skipped: list[ServiceSpec], replicas: int = 1) -> None:
    def row(key: str, value: str) -> None:
        console.print(f"  {key:<12} {value}", markup=False)

    console.print("[bold]Studios is up[/bold]")
    ports = gateway_ports(settings.port, replicas)
    for n, port in enumerate(ports, 1):  # one line per gateway replica, each on a port of its own
        row("gateway" if replicas == 1 else f"gateway-{n}", f"http://{settings.host}:{port}")
    row("console", f"http://{settings.host}:{settings.port}/console/  (sign in with the admin token)")
    row("nats", infra.nats_url)
    row("database", redact(infra.database_url))
    row("data dir", str(data_dir))
    if token.path is None:
        row("admin token", "from STUDIOS_ADMIN_TOKEN")
    elif token.generated:
        row("admin token", f"{token.value}  (new; saved in {token.path})")
    else:
        row("admin token", f"in {token.path}")
    row("services", ", ".join(s.name for s in started) or "none")
    if skipped:
        row("skipped", ", ".join(s.name for s in skipped) + "  (no __main__.py yet)")
    console.print("Press Ctrl-C to stop.", markup=False)
    sys.stdout.flush()


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def _sigterm_exits() -> Iterator[None]:
    """Until the supervisor takes over, SIGTERM unwinds (so the infra started so far is stopped) instead of killing."""
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def up(settings: PlatformSettings, only: list[str] | None = None, replicas: int = 1) -> int:
    """``replicas``: processes per service (``libs/platform/replicas.py``; docs/operations.md, "Replicas")."""
    configure_logging(settings.log_level, settings.log_json, "studios")
    gateway_ports(settings.port, replicas)  # a bad count or port is refused before anything starts
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    ensure_runtime_dir(data_dir)
    ready, skipped = runnable(select(only))
    specs = replicate(ready, replicas, settings.port, os.environ)
    infra: Infrastructure | None = None
    try:
        with _sigterm_exits():
            infra = bring_up(data_dir, settings.database_url, settings.nats_url, settings.nats_sync_interval)
            asyncio.run(_migrate(infra.database_url))
            token = ensure_admin_token(settings, data_dir)
            env = service_env(settings, infra, data_dir, token.value)
            _print_banner(settings, infra, data_dir, token, specs, skipped, replicas)
        code = run_until_signalled(Supervisor(specs, env).run)
        log.info("all services stopped")
        return code
    finally:
        if infra is not None:
            with _sigterm_exits():
                infra.stop()
