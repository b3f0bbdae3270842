"""Seqera's ``GET /studios/templates`` serves the template registry, and ``dataStudioToolUrl`` names a registry
template whose environment the studio then builds at start (its ``condaEnvironment``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from libs.contracts import template as contract
from libs.contracts.build_commands import SaveTemplate
from libs.contracts.template import TemplateDefinition
from libs.eventstore import execute
from libs.testing.waiting import wait_for
from services.builder import template
from services.builder.seeds import BUILT_IN
from services.gateway.read.projections import BUILDS, run
from tests.integration.studios_api_helpers import CE, WS, Api

LAB = TemplateDefinition(repository="studios/tiny-lab:1", tool="http-echo", icon="http",
                         conda_environment="channels: [conda-forge]\ndependencies:\n  - python=3.11\n",
                         requirements=("tinypkg==1.0",))


async def _register(api: Api, template_id: str, d: TemplateDefinition) -> None:
    cmd = SaveTemplate(template_id=template_id, definition=d, actor="1", now=datetime.now(UTC))
    await execute(api.store, contract.stream_name(template_id), cmd, template.decide, template.evolve,
                  template.INITIAL)


async def test_the_registry_serves_the_templates_and_a_registry_template_brings_its_environment(api: Api) -> None:
    before = (await api.client.get(f"/studios/templates?workspaceId={WS}", headers=api.auth("alice"))).json()
    assert before["totalSize"] == 3  # an empty registry: the built-in catalogue answers
    stop = asyncio.Event()
    task = asyncio.create_task(run(api.store, BUILDS, stop))
    try:
        for template_id, d in BUILT_IN.items():
            await _register(api, template_id, d)
        await _register(api, "tiny-lab", LAB)

        async def listed() -> list[str]:
            r = await api.client.get(f"/studios/templates?workspaceId={WS}", headers=api.auth("alice"))
            return [t["repository"] for t in r.json()["templates"]]

        repos: list[str] = await wait_for(listed, within=30, until=lambda seen: len(seen) == 4, what="4 templates")
        assert "studios/tiny-lab:1" in repos and "studios/jupyter:4" in repos

        body = {"name": "tiny", "computeEnvId": CE, "dataStudioToolUrl": "studios/tiny-lab:1"}
        r = await api.client.post(f"/studios?workspaceId={WS}&autoStart=false", json=body,
                                  headers=api.auth("alice"))
        assert r.status_code == 200, r.text
        env = r.json()["studio"]["configuration"]["condaEnvironment"]
        assert "python=3.11" in env and "tinypkg==1.0" in env  # the pip requirements joined the file
        assert r.json()["studio"]["template"]["repository"] == "studios/tiny-lab:1"
        unknown = {**body, "name": "nope", "dataStudioToolUrl": "studios/nope:1"}
        assert (await api.client.post(f"/studios?workspaceId={WS}", json=unknown,
                                      headers=api.auth("alice"))).status_code == 400
    finally:
        stop.set()
        await asyncio.gather(task, return_exceptions=True)
