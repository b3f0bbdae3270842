"""`studios projections status|rebuild`: a blue/green rebuild from position zero, then the swap."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from libs.eventstore import EventStore
from services.gateway.read.projections import base as projections
from services.gateway.read.projections.studios import STUDIOS
from services.gateway.read.schema import GATEWAY
from services.gateway.read.studios import studio as read_studio
from services.lifecycle.handlers import StudioHandlers
from tests.integration.lifecycle_harness import create


def _cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run([sys.executable, "-m", "libs.platform.cli", *args], env=env, capture_output=True,
                          text=True, timeout=120)


async def test_rebuild_swaps_in_an_equal_read_model(database_url: str) -> None:
    store = await EventStore.connect(database_url, sources=[GATEWAY])
    try:
        handlers = StudioHandlers(store)
        ids = []
        for i in range(5):
            cmd = create(f"rb-{i}", auto_start=False)
            await handlers.handle(cmd)
            ids.append(cmd.session_id)
        await projections.subscription(store, STUDIOS, 1).catch_up()
        before = {sid: (await read_studio(store.pool, sid)) for sid in ids}

        done = _cli(database_url, "projections", "rebuild", "studios")
        assert done.returncode == 0, done.stderr
        out = _cli(database_url, "projections", "status", "--json")
        assert out.returncode == 0, out.stderr
        rows = {r["name"]: r for r in (json.loads(line) for line in out.stdout.splitlines() if line.startswith("{"))}
        assert sorted(rows) == ["gateway.identity", "studios"]  # found through the entry point, not an import
        row = rows["studios"]
        assert row["version"] == 2 and row["lag"] == 0 and row["state"] == "ok" and row["parked"] == 0
        after = {sid: (await read_studio(store.pool, sid)) for sid in ids}
        assert after == before and all(after.values())

        bad = _cli(database_url, "projections", "rebuild", "nope")
        assert bad.returncode != 0 and "unknown projection" in (bad.stdout + bad.stderr)
    finally:
        await store.close()
