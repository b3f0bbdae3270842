"""Helpers for the proxy tests: real tool processes, a real uvicorn server, and fakes for the gateway's look-ups."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from libs.contracts.errors import NotFound
from libs.contracts.studio import StudioStatus
from libs.contracts.studio_state import State
from libs.platform.infra import free_port
from libs.testing.fakes import ProxiedUser
from libs.testing.fakes import RecordingSender as RecordingSender  # shared; the proxy tests import it from here
from services.gateway.settings import GatewaySettings

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cret-of-the-session"


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"tool exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"tool did not listen on {port}")


@contextmanager
def tool_process(module: str, port: int, args: list[str] | None = None, timeout: float = 15.0
                 ) -> Iterator[subprocess.Popen[bytes]]:
    """A tool as a child process (``python -m module --port N`` unless ``args``); always terminated and reaped."""
    env = {**os.environ, "STUDIOS_SESSION_SECRET": SECRET, "STUDIOS_SESSION_ID": "s-run"}
    argv = args if args is not None else ["--port", str(port)]
    proc = subprocess.Popen([sys.executable, "-m", module, *argv], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_for_port(port, proc, timeout)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


KEEP_ALIVE: int = GatewaySettings.model_fields["keep_alive_seconds"].default


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    """``app`` on a real uvicorn (HTTP and WebSockets) on a free port; yields its base URL."""
    port = free_port()
    # idle connections kept as the gateway keeps them (STUDIOS_KEEP_ALIVE_SECONDS), past httpx's 5 s
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
                                           ws="websockets-sansio", timeout_keep_alive=KEEP_ALIVE))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


User = ProxiedUser

TOKENS = {"tok-alice": User("7", "alice"), "tok-bob": User("9", "bob"), "tok-viewer": User("11", "vera")}


async def authenticate(token: str) -> User | None:
    return TOKENS.get(token)


async def can_connect(user: User, state: State) -> bool:
    if state.is_private and user.user_id != state.user_id:
        raise NotFound(f"Studio {state.session_id} not found")
    return user.user_id != "11"  # vera may only view


def studio(session_id: str, port: int, **changes: Any) -> State:
    now = datetime.now(UTC)
    fields: dict[str, Any] = dict(
        exists=True, session_id=session_id, workspace_id="1", user_id="7", name=session_id, run=3, created_at=now,
        status=StudioStatus.RUNNING, handle={"host": "127.0.0.1", "port": port, "secret": SECRET})
    return State(**(fields | changes))
