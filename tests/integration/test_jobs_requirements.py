"""A job's ``requirements`` are built by the real builder service (local wheels, no index) before it runs: the job
goes PROVISIONING, runs in the built environment and imports the package; one the builder cannot satisfy ends
FAILED with the builder's reason."""

from __future__ import annotations

from pathlib import Path

import nats

from libs.bus.streams import Topology, delete_streams
from libs.contracts.job import JobStatus, stream_name
from tests.integration.builder_harness import builder_settings, running_builder, wheels
from tests.integration.jobs_helpers import submit, wait_final
from tests.integration.lifecycle_harness import running_lifecycle

CHECK = "import sys, tinypkg\nprint(tinypkg.VERSION)\nsys.exit(0 if tinypkg.VERSION == '2.0' else 3)\n"


async def test_requirements_are_built_by_the_builder_before_the_job_runs(database_url: str, nats_url: str,
                                                                         tmp_path: Path) -> None:
    topology = Topology.unique("jr")
    found = wheels(tmp_path / "wheels")
    try:
        async with running_builder(builder_settings(database_url, nats_url, tmp_path / "b", str(found)), topology), \
                running_lifecycle(database_url, nats_url, tmp_path / "lc", topology=topology,
                                  STUDIOS_JOB_DISPATCH_INTERVAL_SECONDS=0.05,
                                  STUDIOS_LIFECYCLE_METRICS_PORT=0) as lc:
            built = await submit(lc, CHECK, requirements="tinypkg==2.0\n# a comment\n")
            broken = await submit(lc, CHECK, requirements="nosuchpkg==9")
            ok = await wait_final(lc.store, built, within=120)
            assert ok.status == JobStatus.COMPLETE, ok.error_message
            types = [r.event_type for r in await lc.store.read_stream(stream_name(built))]
            assert types.index("JobProvisioning") < types.index("JobStarted")
            bad = await wait_final(lc.store, broken, within=120)
            assert bad.status == JobStatus.FAILED and bad.pid is None
            assert bad.error_message and bad.error_message.startswith("requirements:")
    finally:
        nc = await nats.connect(nats_url)
        await delete_streams(nc.jetstream(), topology)
        await nc.close()
