"""``studios up --replicas N``: N specs per service, each with its instance id; gateways on consecutive ports."""

from __future__ import annotations

import pytest

from libs.platform.replicas import INSTANCE_ENV, gateway_ports, replicate
from libs.platform.services import SERVICES, ServiceSpec


def test_two_replicas_give_each_service_two_processes_with_their_own_instance_ids() -> None:
    specs = replicate(SERVICES, 2, 8080, {})
    assert [s.name for s in specs] == [f"{s.name}-{n}" for s in SERVICES for n in (1, 2)]
    envs = {s.name: dict(s.env) for s in specs}
    assert envs["gateway-1"]["STUDIOS_PORT"] == "8080" and envs["gateway-2"]["STUDIOS_PORT"] == "8081"
    assert envs["lifecycle-2"][INSTANCE_ENV] == "lifecycle-2" and envs["lifecycle-2"]["STUDIOS_SERVICE"] == "lifecycle"
    assert (envs["lifecycle-1"]["STUDIOS_LIFECYCLE_METRICS_PORT"],
            envs["lifecycle-2"]["STUDIOS_LIFECYCLE_METRICS_PORT"]) == ("9101", "9102")
    # what makes a service a service is kept: lifecycle's shutdown signal, grace and lasting work
    def kind(s: ServiceSpec) -> tuple[object, ...]:
        return s.module, s.shutdown_signal, s.grace_seconds, s.owns_lasting_work

    original = {s.name: kind(s) for s in SERVICES}
    assert all(kind(s) == original[dict(s.env)["STUDIOS_SERVICE"]] for s in specs)


def test_one_replica_keeps_the_names_and_the_port() -> None:
    specs = replicate(SERVICES, 1, 8080, {"STUDIOS_LIFECYCLE_METRICS_PORT": "0"})
    assert [s.name for s in specs] == [s.name for s in SERVICES]
    assert dict(specs[0].env)["STUDIOS_PORT"] == "8080"
    assert "STUDIOS_LIFECYCLE_METRICS_PORT" not in dict(specs[1].env)


@pytest.mark.parametrize(("port", "replicas"), [(0, 2), (65535, 2), (8080, 0)])
def test_replicas_that_cannot_listen_are_refused(port: int, replicas: int) -> None:
    with pytest.raises(ValueError):
        gateway_ports(port, replicas)
