"""Prometheus metrics: one registry per process, factories that add the ``service`` label, and two ways to serve.

Usage in a service::

    metrics = ServiceMetrics("lifecycle")
    started = metrics.counter("sessions_started_total", "Sessions started")          # bound: started.inc()
    handled = metrics.histogram("command_seconds", "Command handling time", ("command",))
    handled(command="StartStudio").observe(0.01)                                     # partially bound
    app.mount("/metrics", metrics_app())      # or start_metrics_server(9100)
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    make_asgi_app,
    start_http_server,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

_registry: CollectorRegistry | None = None
_metrics: dict[str, Any] = {}


def registry() -> CollectorRegistry:
    """This process's registry (created on first use, with process, platform and GC collectors)."""
    global _registry
    if _registry is None:
        _registry = CollectorRegistry()
        ProcessCollector(registry=_registry)
        PlatformCollector(registry=_registry)
        GCCollector(registry=_registry)
    return _registry


METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST


def metrics_text() -> bytes:
    """This process's registry in the Prometheus text format (for a framework's own ``/metrics`` route)."""
    return generate_latest(registry())


def metrics_app() -> Any:
    """An ASGI app serving this process's registry in the Prometheus text format (mount it at ``/metrics``)."""
    return make_asgi_app(registry=registry())


def start_metrics_server(port: int, addr: str = "127.0.0.1") -> Any:
    """Serve ``/metrics`` from a background thread; returns the HTTP server (``stop_metrics_server`` stops it)."""
    server, _thread = start_http_server(port, addr=addr, registry=registry())
    return server


def stop_metrics_server(server: Any) -> None:
    """Stop serving and release the port (``shutdown`` alone leaves the socket bound until the process exits)."""
    server.shutdown()
    server.server_close()


class ServiceMetrics:
    """Metric factories for one service: every metric is named ``studios_<name>`` and labelled ``service``.

    Without extra labels a factory returns the child already bound to the service; with extra labels it returns
    a function taking those labels as keywords.
    """

    def __init__(self, service: str) -> None:
        self.service = service

    def _make(self, kind: type[Any], name: str, doc: str, labels: Sequence[str], **kw: Any) -> Any:
        full = f"studios_{name}"
        metric = _metrics.get(full)
        if metric is None:
            metric = _metrics[full] = kind(full, doc, ("service", *labels), registry=registry(), **kw)
        if not labels:
            return metric.labels(service=self.service)
        return functools.partial(metric.labels, service=self.service)

    def counter(self, name: str, doc: str, labels: Sequence[str] = ()) -> Any:
        return self._make(Counter, name, doc, labels)

    def gauge(self, name: str, doc: str, labels: Sequence[str] = ()) -> Any:
        return self._make(Gauge, name, doc, labels)

    def histogram(self, name: str, doc: str, labels: Sequence[str] = (),
                  buckets: Sequence[float] = Histogram.DEFAULT_BUCKETS) -> Any:
        return self._make(Histogram, name, doc, labels, buckets=tuple(buckets))



def parked_events(service: str) -> Any:
    """``studios_parked_events{service, consumer}``: events a consumer has parked (failed, or held behind a failed
    event of the same stream) and not yet retried or discarded; set by the consumer from ``es.parked``."""
    return ServiceMetrics(service).gauge("parked_events", "Events parked by a consumer, not yet retried or discarded",
                                         ("consumer",))


#: Start latency buckets (seconds): a bare tool answers in about a second here, JupyterLab in 1-2 s, a git clone or a
#: loaded machine takes longer, and the ready timeout is 180 s.
START_BUCKETS = (0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 180, 300)


class LifecycleMetrics:
    """The lifecycle service's metrics (one set per process; every instance shares the same collectors)."""

    def __init__(self) -> None:
        m = ServiceMetrics("lifecycle")
        #: set by each reconcile pass from the store: how many studios are in each active state
        self.sessions = m.gauge("sessions", "Studios in each active session state, as of the last reconcile pass",
                                ("state",))
        self.start_seconds = m.histogram("session_start_seconds",
                                         "From a start being requested to the tool answering", buckets=START_BUCKETS)
        self.reconcile_passes = m.counter("reconcile_passes_total", "Reconcile passes", ("outcome",))

    def observe_sessions(self, counts: dict[str, int], states: Sequence[str]) -> None:
        """Set the gauge for every state in ``states`` (0 where ``counts`` has none), so a state emptied since the
        last pass does not keep its old value."""
        for state in states:
            self.sessions(state=state).set(counts.get(state, 0))
