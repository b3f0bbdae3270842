"""The Kubernetes backend's log copy when a follow of the pod's log breaks or ends early as the tool ends: the file
still ends equal to the pod's log, nothing lost or twice, and the copy ends.

No cluster runs here (kube_cluster.py: those tests skip without one), and no real API server can be made to drop
a follow on cue. So the API is a small aiohttp server answering the two calls the copy makes, read a pod and
follow its log (chunked, as the API server streams it), with the real kubernetes_asyncio client and the backend's
own code in front of it. The first follow sends part of the log and then, as the tool ends, either drops its
connection (the client raises aiohttp's ClientPayloadError, which once killed the docker backend's copy without a
word) or ends cleanly, short.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from services.lifecycle.backends.kube_api import Api
from services.lifecycle.backends.kube_pods import CONTAINER
from tests.integration.kube_fake_api import serving

LOG = b"".join(f"line {i} of the tool's output\n".encode() for i in range(3000))


class PodApi:
    """One pod whose tool runs until the first follow of its log, which ends it and then breaks as ``mode`` says."""

    def __init__(self, mode: str) -> None:
        self.mode, self.running, self.follows = mode, True, 0

    def pod(self, request: web.Request) -> web.Response:
        state: dict[str, Any] = {"running": {}} if self.running else {"terminated": {"exitCode": 0}}
        return web.json_response({
            "kind": "Pod", "apiVersion": "v1", "metadata": {"name": request.match_info["name"]},
            "status": {"phase": "Running" if self.running else "Succeeded",
                       "containerStatuses": [{"name": CONTAINER, "state": state}]}})

    async def log(self, request: web.Request) -> web.StreamResponse:
        assert request.query.get("follow", "").lower() == "true" and request.query.get("container") == CONTAINER
        self.follows += 1
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        if self.follows > 1:  # the tool has ended: its whole log, then the end
            await response.write(LOG)
            await response.write_eof()
            return response
        await response.write(LOG[:len(LOG) // 3])
        self.running = False  # the tool ends while this follow is under way
        if self.mode == "drop":
            assert request.transport is not None
            request.transport.abort()  # mid-chunk for the client: a broken transfer
        else:
            await response.write_eof()  # a clean end, a third of the log short
        return response


@pytest.fixture(params=["drop", "short"])
async def served(request: pytest.FixtureRequest) -> AsyncIterator[tuple[PodApi, Api]]:
    fake = PodApi(request.param)
    app = web.Application()
    app.router.add_get("/api/v1/namespaces/{ns}/pods/{name}", fake.pod)
    app.router.add_get("/api/v1/namespaces/{ns}/pods/{name}/log", fake.log)
    async with serving(app) as api:
        yield fake, Api(api, "studios")


async def test_the_copy_ends_with_the_whole_log_when_a_follow_breaks_or_ends_short(
        served: tuple[PodApi, Api], tmp_path: Path) -> None:
    fake, api = served
    path = tmp_path / "logs" / "run.log"
    async with asyncio.timeout(60):  # a copy that never ends fails here, not at the suite's limit
        await api.copy_log("studio-1", path)
    assert path.read_bytes() == LOG
    assert fake.follows == 3  # the cut one, one that brought the rest, one that found nothing more
