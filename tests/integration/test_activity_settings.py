"""``idleTimeoutMinutes`` through the API: a workspace Studios setting (a fraction, reset by null, refused when
negative) and a studio's configuration (shown back in its DTO, with ``lastActivity``); and the lifecycle stops an
idle studio on its workspace's setting when the studio sets none."""

from __future__ import annotations

import sys
from pathlib import Path

from libs.contracts.studio import StopReason, StudioConfiguration, StudioStatus, StudioTemplate
from libs.platform.clock import now
from services.gateway.handlers.studio_settings import change_settings
from tests.integration.lifecycle_harness import create, running_lifecycle
from tests.integration.studios_api_helpers import ORG, WS, Api

SERVE = "import http.server, os; http.server.HTTPServer(('127.0.0.1', int(os.environ['CONNECT_TOOL_PORT'])), " \
        "http.server.SimpleHTTPRequestHandler).serve_forever()"


async def test_the_workspace_setting_round_trips_and_resets(api: Api) -> None:
    path = f"/orgs/{ORG}/workspaces/{WS}/settings/studios"
    assert "idleTimeoutMinutes" not in (await api.client.get(path, headers=api.auth("carol"))).json()
    r = await api.client.put(path, json={"idleTimeoutMinutes": 0.5}, headers=api.auth("alice"))
    assert r.status_code == 204, r.text
    assert (await api.client.get(path, headers=api.auth("carol"))).json()["idleTimeoutMinutes"] == 0.5
    assert (await api.client.put(path, json={"idleTimeoutMinutes": -1}, headers=api.auth("alice"))).status_code == 400
    assert (await api.client.put(path, json={"idleTimeoutMinutes": None}, headers=api.auth("alice"))).status_code == 204
    assert "idleTimeoutMinutes" not in (await api.client.get(path, headers=api.auth("carol"))).json()


async def test_a_studio_s_own_timeout_is_kept_in_its_configuration(api: Api) -> None:
    body = {"name": "lab", "computeEnvId": "ce1", "dataStudioToolUrl": "studios/jupyter:4",
            "configuration": {"idleTimeoutMinutes": 45}}
    r = await api.client.post(f"/studios?workspaceId={WS}&autoStart=false", json=body, headers=api.auth("alice"))
    assert r.status_code == 200, r.text
    studio = r.json()["studio"]
    assert studio["configuration"]["idleTimeoutMinutes"] == 45
    body["configuration"] = {"idleTimeoutMinutes": -5}
    body["name"] = "lab2"
    r = await api.client.post(f"/studios?workspaceId={WS}&autoStart=false", json=body, headers=api.auth("alice"))
    assert r.status_code == 400


async def test_an_idle_studio_stops_on_its_workspace_s_setting(database_url: str, nats_url: str,
                                                               tmp_path: Path) -> None:
    async with running_lifecycle(database_url, nats_url, tmp_path) as lc:
        await change_settings(lc.store, 1, 1, {"idle_timeout_minutes": 0.05}, now(), "1")
        config = StudioConfiguration(command=(sys.executable, "-c", SERVE))
        cmd = create("quiet", template=StudioTemplate(repository="studios/custom:1", tool="custom"),
                     configuration=config)
        await lc.send(cmd)
        await lc.wait_status(cmd.session_id, StudioStatus.RUNNING)
        state = await lc.wait_status(cmd.session_id, StudioStatus.STOPPED, timeout=60)
        assert state.stop_reason is StopReason.IDLE_TIMEOUT
