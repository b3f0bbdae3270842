"""The real ``dataiku-api-client``, unmodified, drives Studios end to end (gateway + lifecycle + builder +
checkpoints on real PostgreSQL and NATS): build a template and wait on the future, create a code studio, restart
it to RUNNING, push a zone, change a file in the studio, check conflicts, pull, stop it and delete it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import dataikuapi
from dataikuapi.dss.codestudio import DSSCodeStudioObject

from tests.integration.dataiku_harness import TEMPLATE, System, running_system


async def in_thread(fn: Any, *args: Any) -> Any:
    return await asyncio.to_thread(fn, *args)


async def registered(system: System) -> None:
    async with system.http() as http:
        r = await http.post("/templates", json=TEMPLATE)
        assert r.status_code == 201, r.text


async def test_the_dataiku_client_builds_creates_restarts_syncs_stops_and_deletes_a_code_studio(
        database_url: str, nats_url: str, tmp_path: Path) -> None:
    async with running_system(database_url, nats_url, tmp_path) as system:
        await registered(system)
        client = dataikuapi.DSSClient(system.url, api_key=system.token)

        listed = await in_thread(client.list_code_studio_templates)
        assert "dku-lab" in [t.id for t in listed]
        template = client.get_code_studio_template("dku-lab")
        settings = await in_thread(template.get_settings)
        settings.set_built_container_confs("local")
        await in_thread(settings.save)
        future = await in_thread(template.build)
        result = await in_thread(future.wait_for_result)
        assert result["artifact"]["uri"].startswith("file://")
        built = {t.id: t for t in await in_thread(client.list_code_studio_templates)}["dku-lab"]
        assert built.last_built is not None and built.build_for_configs == ["local"]

        project = client.get_project("default")
        studio: DSSCodeStudioObject = await in_thread(project.create_code_studio, "dku-lab-1", "dku-lab")
        assert (await in_thread(studio.get_status)).state == "STOPPED"
        assert (await in_thread(studio.get_settings)).template_id == "dku-lab"

        start = await in_thread(studio.restart)
        await in_thread(start.wait_for_result)
        status = await in_thread(studio.get_status)
        assert status.state == "RUNNING" and status.last_state_change is not None
        assert status.get_zones() == ["code_studio-versioned", "user-versioned", "project_lib-versioned"]

        # push (the stored copy is empty yet), change a file in the studio, check conflicts, pull
        zone, lib = "project_lib-versioned", system.workspace(studio.code_studio_id) / "project_lib-versioned"
        assert await in_thread(studio.push_to_code_studio, zone) == {"count": 0, "size": 0, "files": 0}
        assert lib.is_dir()
        (lib / "helpers.py").write_text("ANSWER = 42\n")
        conflicts = await in_thread(studio.check_conflicts, zone)
        assert not conflicts.is_error and (conflicts.added, conflicts.modified, conflicts.deleted) == ([], [], [])
        assert conflicts.get_raw()[zone]["studio"]["added"] == ["helpers.py"]  # a change of the studio's only
        await in_thread(studio.pull_from_code_studio, zone)
        (lib / "helpers.py").write_text("ANSWER = 0\n")  # a push now brings back what was pulled
        assert (await in_thread(studio.push_to_code_studio, zone))["count"] == 1
        assert (lib / "helpers.py").read_text() == "ANSWER = 42\n"

        # a restart of a running code studio stops it and starts a new run; the zone's files are still there
        again = await in_thread(studio.restart)
        assert again.job_id != start.job_id
        await in_thread(again.wait_for_result)
        assert (await in_thread(studio.get_status)).state == "RUNNING"
        assert (lib / "helpers.py").read_text() == "ANSWER = 42\n"

        stop = await in_thread(studio.stop)
        await in_thread(stop.wait_for_result)
        assert (await in_thread(studio.get_status)).state == "STOPPED"
        already = await in_thread(studio.stop)  # already stopped: a future that is done (no job)
        assert already.job_id is None and await in_thread(already.wait_for_result) == {"state": "STOPPED"}
        await in_thread(studio.delete)
        assert studio.code_studio_id not in [s.id for s in await in_thread(project.list_code_studios)]


async def test_a_file_changed_in_two_code_studios_of_a_project_is_a_conflict_with_its_author(
        database_url: str, nats_url: str, tmp_path: Path) -> None:
    async with running_system(database_url, nats_url, tmp_path) as system:
        await registered(system)
        client = dataikuapi.DSSClient(system.url, api_key=system.token)
        project = client.get_project("default")
        zone = "project_lib-versioned"  # the project's stored copy: both studios sync with it
        a, b = [await in_thread(project.create_code_studio, name, "dku-lab") for name in ("lab-a", "lab-b")]
        for studio in (a, b):
            await in_thread((await in_thread(studio.restart)).wait_for_result)
        lib_a, lib_b = (system.workspace(s.code_studio_id) / zone for s in (a, b))

        await in_thread(a.push_to_code_studio, zone)
        (lib_a / "lib.py").write_text("v1\n")
        await in_thread(a.pull_from_code_studio, zone)
        assert (await in_thread(b.push_to_code_studio, zone))["count"] == 1  # b gets a's file
        assert (lib_b / "lib.py").read_text() == "v1\n"
        (lib_b / "lib.py").write_text("from b\n")
        await in_thread(b.pull_from_code_studio, zone)

        (lib_a / "lib.py").write_text("from a\n")  # a changes it too, not knowing
        conflicts = await in_thread(a.check_conflicts, zone)
        async with system.http() as http:
            me = (await http.get("/user-info")).json()["user"]["userName"]
        assert conflicts.modified == ["lib.py"] and conflicts.authors == [me]
        assert (await in_thread(b.check_conflicts, zone)).modified == []  # b is in step with the stored copy
