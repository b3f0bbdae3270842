"""``python -m bench.eventstore_profile`` runs on its own cluster and prints its figures: the shape only."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


async def test_the_profile_prints_each_side_and_the_index_of_each_query() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}  # it always starts a cluster of its own
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.eventstore_profile", "--events", "800", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), 300)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0
    text = out.decode()
    sides = re.findall(r"^(\w+): \d+/s server_cpu=\d+us/append$", text, re.M)
    assert sides == ["before", "after", "baseline"]
    assert re.search(r"^\s+[\d.]+us\s+\d+ calls .*es\.append", text, re.M)  # pg_stat_statements answered
    used = dict(re.findall(r"^  (.+) -> (.+)$", text, re.M))
    assert used["idempotent retry: stored ids"] == "events_event_id_key"
    assert used["read-your-writes: gateway read/consistency.py"] == "events_pkey"
    assert used["read_all by horizon: relay, replays"] == "events_horizon"
