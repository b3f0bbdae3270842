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

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_asgi_app, start_http_server
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


def metrics_app() -> Any:
    """An ASGI app serving this process's registry in the Prometheus text format (mount it at ``/metrics``)."""
    return make_asgi_app(registry=registry())


def start_metrics_server(port: int, addr: str = "127.0.0.1") -> Any:
    """Serve ``/metrics`` from a background thread; returns the HTTP server (``.shutdown()`` stops it)."""
    server, _thread = start_http_server(port, addr=addr, registry=registry())
    return server


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

