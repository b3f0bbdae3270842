"""The container probe of the services that serve no HTTP (deploy/kubernetes/): it passes once a real command server
answers, never reaches the command's handler (no effect however often a kubelet runs it), and fails, saying why,
when nobody serves the command or NATS does not answer."""

from __future__ import annotations

import subprocess
import sys
import uuid
from typing import Any

from libs.bus.broker import make_broker
from libs.bus.commands import CommandServer
from libs.contracts.commands import Command
from libs.platform.probe import answers
from libs.testing.waiting import wait_for


async def test_the_probe_passes_when_the_service_answers_and_never_runs_the_handler(nats_url: str) -> None:
    service = f"probe-{uuid.uuid4().hex[:8]}"
    ping: type[Command] = type("Ping", (Command,), {"service": service, "name": "ping"})
    handled: list[Any] = []

    async def handler(cmd: Command, meta: object) -> dict[str, Any]:
        handled.append(cmd)
        return {}

    broker = make_broker(nats_url, name=service, quiet=True)
    CommandServer(broker, service).handle(ping)(handler)
    await broker.start()
    try:
        assert await wait_for(lambda: _passes(nats_url, service), within=30, what="the probe passing")
        for _ in range(3):
            assert await answers(nats_url, service, "ping") is None
        assert handled == []  # refused before any handler: the probe has no effect
    finally:
        await broker.stop()
    assert await answers(nats_url, service, "ping") == f"no {service} service answers ping"


async def _passes(nats_url: str, service: str) -> bool | None:
    return True if await answers(nats_url, service, "ping") is None else None


async def test_the_probe_fails_when_nats_does_not_answer() -> None:
    why = await answers("nats://127.0.0.1:1", "logs", "query_logs", timeout=1)
    assert why is not None and why.startswith("NATS at nats://127.0.0.1:1 does not answer")


def test_the_command_line_exits_1_with_the_reason(nats_url: str) -> None:
    done = subprocess.run([sys.executable, "-m", "libs.platform.probe", "nobody", "ping"], capture_output=True,
                          text=True, env={"NATS_URL": nats_url, "PATH": "/usr/bin:/bin"}, timeout=60)
    assert (done.returncode, done.stderr.strip()) == (1, "no nobody service answers ping")
