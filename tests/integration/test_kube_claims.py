"""A deleted studio's workspace claim is deleted by the Kubernetes backend: the real kubernetes_asyncio client and
the backend's code in front of a small API server that holds claims (no cluster runs here: kube_cluster.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from services.lifecycle.backends.kube import KubernetesBackend
from services.lifecycle.backends.kube_api import Api
from services.lifecycle.backends.kube_objects import claim_name
from tests.integration.kube_fake_api import serving


class Claims:
    def __init__(self) -> None:
        self.held = {("studios", claim_name("st-1")), ("studios", claim_name("st-2"))}
        self.deletes: list[tuple[str, str]] = []

    async def delete(self, request: web.Request) -> web.Response:
        key = (request.match_info["ns"], request.match_info["name"])
        self.deletes.append(key)
        if key not in self.held:
            return web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404,
                                      "reason": "NotFound", "message": "not found"}, status=404)
        self.held.discard(key)
        return web.json_response({"kind": "PersistentVolumeClaim", "apiVersion": "v1",
                                  "metadata": {"name": key[1], "namespace": key[0]}})


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Claims, KubernetesBackend]]:
    fake = Claims()
    app = web.Application()
    app.router.add_delete("/api/v1/namespaces/{ns}/persistentvolumeclaims/{name}", fake.delete)
    async with serving(app) as api:
        backend = KubernetesBackend(tmp_path / "state", "studios")
        backend._api = Api(api, "studios")  # the backend's own client, pointed at this server
        yield fake, backend


async def test_a_deleted_studios_claim_is_deleted_and_a_gone_one_is_no_error(
        served: tuple[Claims, KubernetesBackend], tmp_path: Path) -> None:
    fake, backend = served
    assert await backend.forget_workspace("st-1", tmp_path / "ws" / "st-1")
    assert fake.held == {("studios", claim_name("st-2"))}  # only that studio's, in the backend's namespace
    assert await backend.forget_workspace("st-1", tmp_path / "ws" / "st-1")  # again: 404, nothing to do
    assert fake.deletes == [("studios", "studios-ws-st-1")] * 2
