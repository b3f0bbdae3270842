"""A real JupyterLab studio through `studios up`: it starts, and its REST API answers through the proxy."""

from __future__ import annotations

import importlib.util

import pytest

from tests.e2e.conftest import System
from tests.e2e.helpers import status_is, wait_studio

pytestmark = [pytest.mark.jupyter,
              pytest.mark.skipif(importlib.util.find_spec("jupyterlab") is None, reason="jupyter extra missing")]
WS = {"workspaceId": 1}


def test_jupyterlab_studio_answers_through_the_proxy(system: System) -> None:
    with system.client() as c:
        r = c.post("/studios", params=WS, json={"name": "lab", "computeEnvId": "local",
                                                "dataStudioToolUrl": "studios/jupyter:4"})
        assert r.status_code == 200, r.text
        sid = r.json()["studio"]["sessionId"]
        dto = wait_studio(c, sid, status_is("running", "errored"), timeout=180)
        assert dto["statusInfo"]["status"] == "running", dto["statusInfo"]
        assert [p["message"] for p in dto["progress"]][-1] == "Waiting for JupyterLab to respond"

        status = c.get(f"/connect/{sid}/api/status")
        assert status.status_code == 200, status.text
        assert "started" in status.json()
        # the browser path: a one-time ?access_token= becomes a cookie scoped to this studio
        lab = c.get(f"/connect/{sid}/lab", params={"access_token": system.token}, headers={"Authorization": ""})
        assert lab.status_code in (200, 302)

        c.put(f"/studios/{sid}/stop", params=WS)
        wait_studio(c, sid, status_is("stopped"), timeout=60)
