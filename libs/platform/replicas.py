"""Replicas: ``studios up --replicas N`` runs N processes of every service against one NATS and one PostgreSQL.

Each replica is a service spec of its own (``gateway-1``, ``gateway-2``...; with one replica the names stay
``gateway``...), so the supervisor restarts each on its own. Every replica gets ``STUDIOS_INSTANCE``
(``<service>-<n>``, stable across the supervisor's restarts of it) for what must stay private to one process.
Gateways listen on distinct ports, ``--port`` and the ones after it, rather than one socket shared with
``SO_REUSEPORT``: each replica is addressable (a health check, a test or a load balancer in front names the
one it means), and a client of a killed replica sees a refused connection, never a reset from a half-dead
accept queue the kernel kept sending new connections to. Lifecycle's metrics ports follow the same rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from libs.platform.services import ServiceSpec

INSTANCE_ENV = "STUDIOS_INSTANCE"
METRICS_PORT_ENV = "STUDIOS_LIFECYCLE_METRICS_PORT"
DEFAULT_METRICS_PORT = 9101


def gateway_ports(port: int, replicas: int) -> list[int]:
    """The port of each gateway replica: ``port``, ``port + 1``, ...; an error when they do not fit."""
    if replicas < 1:
        raise ValueError("--replicas is at least 1")
    if replicas > 1 and port == 0:
        raise ValueError("--replicas above 1 needs a fixed gateway port (not 0): replica n listens on port + n - 1")
    if port + replicas - 1 > 65535:
        raise ValueError(f"{replicas} gateway replicas from port {port} go past 65535")
    return [port + i for i in range(replicas)]


def replicate(specs: Sequence[ServiceSpec], replicas: int, port: int,
              env: Mapping[str, str]) -> list[ServiceSpec]:
    """``replicas`` specs per service, each with its instance id, and its own port where a service listens."""
    ports = gateway_ports(port, replicas)
    metrics = int(env.get(METRICS_PORT_ENV) or DEFAULT_METRICS_PORT)
    out: list[ServiceSpec] = []
    for spec in specs:
        for n in range(1, replicas + 1):
            extra = {"STUDIOS_SERVICE": spec.name, INSTANCE_ENV: f"{spec.name}-{n}"}
            if spec.name == "gateway":
                extra["STUDIOS_PORT"] = str(ports[n - 1])
            if spec.name == "lifecycle" and metrics and replicas > 1:
                extra[METRICS_PORT_ENV] = str(metrics + n - 1)
            name = spec.name if replicas == 1 else f"{spec.name}-{n}"
            out.append(replace(spec, name=name, env=(*spec.env, *extra.items())))
    return out
