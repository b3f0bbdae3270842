"""Idle stops that never kill real work, with the real lifecycle and local backend: a ``custom`` tool burning CPU
silently with nobody connected is not stopped at its idle timeout, and is once it stops; a tool whose
``STUDIOS_ACTIVITY_URL`` endpoint says it is busy likewise. The studio's ``idleTimeoutMinutes`` is a fraction of
a minute here, and the reconciler looks every second; the tests wait on what the history records. And the issue's
JupyterLab case: a kernel busy on a long silent computation, nobody connected, is kept until the kernel is idle."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from libs.contracts.studio import StopReason, StudioConfiguration, StudioStatus, StudioTemplate
from libs.contracts.studio_state import State
from libs.testing.waiting import wait_for
from tests.integration.lifecycle_harness import Lifecycle, create, running_lifecycle

CUSTOM = StudioTemplate(repository="studios/custom:1", tool="custom")
TIMEOUT_MINUTES = 0.05  # 3 s
TIMEOUT_S = TIMEOUT_MINUTES * 60

# Serves {"busy": <flag file busy exists>} on $CONNECT_TOOL_PORT; burns CPU without a word while flag file burn
# exists (the GIL lets the server thread answer in between).
TOOL = """
import http.server, json, os, pathlib, threading, time
flags = pathlib.Path(os.environ["FLAGS"])
class Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"busy": (flags / "busy").exists()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["CONNECT_TOOL_PORT"])), Answer)
threading.Thread(target=server.serve_forever, daemon=True).start()
while True:
    if (flags / "burn").exists():
        end = time.monotonic() + 0.05
        while time.monotonic() < end:
            pass
    else:
        time.sleep(0.05)
"""


async def _start(lc: Lifecycle, flags: Path, **environment: str) -> str:
    config = StudioConfiguration(command=(sys.executable, "-c", TOOL), idle_timeout_minutes=TIMEOUT_MINUTES,
                                 environment={"FLAGS": str(flags), **environment})
    cmd = create("busy-or-not", template=CUSTOM, configuration=config)
    await lc.send(cmd)
    await lc.wait_status(cmd.session_id, StudioStatus.RUNNING)
    return cmd.session_id


def _worked_past_its_timeout(state: State) -> bool:
    """Still running, with work recorded more than two timeouts after it started running."""
    return (state.status is StudioStatus.RUNNING and state.last_work is not None and state.last_running is not None
            and (state.last_work - state.last_running).total_seconds() > 2 * TIMEOUT_S)


async def _stop_request_reason(lc: Lifecycle, session_id: str) -> str:
    return str(await lc.store.pool.fetchval(
        "SELECT data->>'reason' FROM es.events WHERE stream_name = $1 AND event_type = 'StudioStopRequested'",
        f"studio-{session_id}"))


async def test_a_custom_tool_burning_cpu_silently_is_not_stopped_until_it_stops(database_url: str, nats_url: str,
                                                                               tmp_path: Path) -> None:
    flags = tmp_path / "flags"
    flags.mkdir()
    (flags / "burn").touch()
    async with running_lifecycle(database_url, nats_url, tmp_path / "data") as lc:
        sid = await _start(lc, flags)
        state = await lc.wait_for(sid, _worked_past_its_timeout, timeout=60)
        assert state.busy_with == ("cpu",) and not state.active_connections
        (flags / "burn").unlink()
        state = await lc.wait_status(sid, StudioStatus.STOPPED, timeout=60)
        assert state.stop_reason is StopReason.IDLE_TIMEOUT
        assert "no connection and no work since" in await _stop_request_reason(lc, sid)


async def test_a_tool_whose_activity_endpoint_says_busy_is_kept_until_it_says_otherwise(
        database_url: str, nats_url: str, tmp_path: Path) -> None:
    flags = tmp_path / "flags"
    flags.mkdir()
    (flags / "busy").touch()
    async with running_lifecycle(database_url, nats_url, tmp_path / "data") as lc:
        sid = await _start(lc, flags, STUDIOS_ACTIVITY_URL="/activity")
        state = await lc.wait_for(sid, _worked_past_its_timeout, timeout=60)
        assert state.busy_with == ("tool busy",)
        (flags / "busy").unlink()
        state = await wait_for(lambda: lc.state(sid), until=lambda s: s.status is StudioStatus.STOPPED, within=60,
                               what="the idle stop")
        assert state.stop_reason is StopReason.IDLE_TIMEOUT


JUPYTER = StudioTemplate(repository="studios/jupyter:4", tool="jupyter")


async def test_a_jupyterlab_kernel_busy_on_a_silent_computation_is_not_stopped_until_it_is_idle(
        database_url: str, nats_url: str, tmp_path: Path) -> None:
    pytest.importorskip("jupyterlab")
    from tests.integration.test_proxy_jupyter import KERNEL, _execute

    flag = tmp_path / "computing"
    flag.touch()
    minutes = 0.2  # JupyterLab takes a while to start here: a kernel is started well within the timeout
    config = StudioConfiguration(idle_timeout_minutes=minutes)
    async with running_lifecycle(database_url, nats_url, tmp_path / "data") as lc:
        cmd = create("lab", template=JUPYTER, configuration=config)
        await lc.send(cmd)
        state = await lc.wait_status(cmd.session_id, StudioStatus.RUNNING, timeout=120)
        assert state.handle is not None
        tool = f"{state.handle['host']}:{state.handle['port']}/connect/{cmd.session_id}"
        token = {"Authorization": f"token {lc.secret(state)}"}  # straight to the tool: no connection recorded
        async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
            r = await http.post(f"http://{tool}/api/kernels", json={"name": "python3"}, headers=token)
            assert r.status_code == 201, r.text
            kernel = r.json()["id"]
            async with connect(f"ws://{tool}/api/kernels/{kernel}/channels?session_id=s", subprotocols=[KERNEL],
                               additional_headers=token, max_size=None) as ws:
                # sleeps, prints nothing, uses no CPU: only the kernel's state says it is working
                await ws.send(_execute(f"import os, time\nwhile os.path.exists({str(flag)!r}): time.sleep(0.1)"))
                state = await lc.wait_for(cmd.session_id, lambda s: _worked_for(s, 1.5 * minutes * 60), timeout=120)
                assert "kernel busy" in state.busy_with and not state.active_connections
                flag.unlink()
                state = await lc.wait_status(cmd.session_id, StudioStatus.STOPPED, timeout=120)
        assert state.stop_reason is StopReason.IDLE_TIMEOUT


def _worked_for(state: State, seconds: float) -> bool:
    return (state.status is StudioStatus.RUNNING and state.last_work is not None and state.last_running is not None
            and (state.last_work - state.last_running).total_seconds() > seconds)
