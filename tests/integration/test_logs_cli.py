"""``studios logs``: a studio's lines through the gateway, stderr coloured, ``-f`` until the run ends, and a
clear error for a studio it may not see. The CLI runs as a process of its own against the API on uvicorn."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from libs.logs import LogPublisher, RunLog
from tests.integration.bus_helpers import nc_fixture, topology_fixture  # noqa: F401
from tests.integration.logs_helpers import logs_api_fixture, stored_lines, studio  # noqa: F401
from tests.integration.proxy_helpers import serve
from tests.integration.studios_api_helpers import Api

STUDIOS = str(Path(sys.executable).parent / "studios")


async def _cli(host: str, *args: str, color: bool = False, token: str = "alice") -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "TERM")}
    env.update({"FORCE_COLOR": "1", "TERM": "xterm-256color"} if color else {"NO_COLOR": "1"})
    proc = await asyncio.create_subprocess_exec(STUDIOS, "logs", *args, "--url", f"http://{host}", "--token", token,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                env=env)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_studios_logs_prints_colours_follows_and_refuses(logs_api: tuple[Api, LogPublisher]) -> None:
    api, pub = logs_api
    sid = await studio(api, "alice", "logs-cli")
    private = await studio(api, "bob", "logs-cli-private", isPrivate=True)
    out = RunLog(pub, "session", sid, 1, first_seq=0)
    out.write("hello")
    out.write("oops", "stderr")
    out.close(final=True, message="Session stopped")
    await stored_lines(api, sid, 3)
    app = api.client._transport.app  # type: ignore[attr-defined]
    async with serve(app) as host:
        code, text, _ = await _cli(host, sid)
        assert code == 0 and text.splitlines() == ["hello", "oops", "Session stopped"]
        code, text, _ = await _cli(host, sid, color=True)
        assert code == 0 and "\x1b[31moops" in text  # stderr in red
        code, text, _ = await _cli(host, sid, "--json", "-n", "1")
        assert code == 0 and json.loads(text)["message"] == "Session stopped"
        code, text, _ = await _cli(host, sid, "-f", "--run", "1")  # a run that has ended: replayed, then done
        assert code == 0 and text.splitlines() == ["hello", "oops", "Session stopped"]
        code, _, err = await _cli(host, "nosuchsession")
        assert code == 1 and "HTTP 404" in err
        code, _, err = await _cli(host, private, token="dave")
        assert code == 1 and "HTTP 404" in err
        code, _, err = await _cli(host, sid, "--since", "yesterday")
        assert code == 2 and "--since" in err
