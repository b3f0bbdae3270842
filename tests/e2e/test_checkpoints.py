"""Checkpoints over REST against `studios up` (every service, as a user runs them): files written in a running
studio come back after a stop and a start on an emptied workspace, the checkpoints list and rename, and a clone
created with ``initialCheckpointId`` starts with the same files and shows its ``parentCheckpoint``."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from tests.e2e.conftest import System
from tests.e2e.helpers import status_is, wait_studio

WS = {"workspaceId": 1}
ECHO = {"computeEnvId": "local", "dataStudioToolUrl": "studios/http-echo:1"}


def _files(root: Path) -> None:
    (root / "notes").mkdir(parents=True, exist_ok=True)
    (root / "notes" / "a.txt").write_text("kept\n")
    (root / "tool.sh").write_text("#!/bin/sh\n")
    (root / "tool.sh").chmod(0o755)
    (root / "blob.bin").write_bytes(os.urandom(100_000))
    (root / "link").symlink_to("notes/a.txt")
    (root / "empty").mkdir(exist_ok=True)


def _same(a: Path, b: Path) -> None:
    assert (b / "notes" / "a.txt").read_text() == (a / "notes" / "a.txt").read_text()
    assert (b / "blob.bin").read_bytes() == (a / "blob.bin").read_bytes()
    assert os.access(b / "tool.sh", os.X_OK) and os.readlink(b / "link") == "notes/a.txt"
    assert (b / "empty").is_dir()


def test_files_survive_a_stop_and_a_clone_starts_from_the_checkpoint(system: System) -> None:
    with system.client() as c:
        r = c.post("/studios", params=WS, json={"name": "keeps-files", **ECHO})
        assert r.status_code == 200, r.text
        sid = r.json()["studio"]["sessionId"]
        dto = wait_studio(c, sid, status_is("running"))
        restoring = dto["progress"][2]
        assert (restoring["message"], restoring["status"]) == ("Restoring checkpoint", "succeeded")
        ws = system.data_dir / "workspaces" / sid
        _files(ws)
        keep = system.data_dir / "expected"
        shutil.copytree(ws, keep, symlinks=True)
        assert c.put(f"/studios/{sid}/stop", params=WS).status_code == 200
        wait_studio(c, sid, status_is("stopped"), timeout=120)
        checkpoints = c.get(f"/studios/{sid}/checkpoints", params=WS).json()
        assert checkpoints["totalSize"] == 1 and checkpoints["checkpoints"][0]["status"] == "finalized"
        first = checkpoints["checkpoints"][0]["id"]

        shutil.rmtree(ws)  # as on new compute
        assert c.put(f"/studios/{sid}/start", params=WS).status_code == 200
        wait_studio(c, sid, status_is("running"), timeout=120)
        _same(keep, ws)

        r = c.put(f"/studios/{sid}/checkpoints/{first}", params=WS, json={"name": "first run"})
        assert r.status_code == 200 and r.json()["name"] == "first_run"

        r = c.post("/studios", params=WS, json={"name": "the-clone", "initialCheckpointId": first, **ECHO})
        assert r.status_code == 200, r.text
        clone = r.json()["studio"]["sessionId"]
        dto = wait_studio(c, clone, status_is("running"), timeout=120)
        _same(keep, system.data_dir / "workspaces" / clone)
        assert dto["parentCheckpoint"]["checkpointId"] == first
        deadline = time.monotonic() + 30  # the read model names the parent once the rename is projected
        while dto["parentCheckpoint"].get("checkpointName") != "first_run" and time.monotonic() < deadline:
            time.sleep(0.1)
            dto = c.get(f"/studios/{clone}", params=WS).json()
        assert dto["parentCheckpoint"] == {"checkpointId": first, "checkpointName": "first_run", "sessionId": sid,
                                           "studioName": "keeps-files"}
        for s in (sid, clone):
            c.put(f"/studios/{s}/stop", params=WS)
            wait_studio(c, s, status_is("stopped"), timeout=120)
