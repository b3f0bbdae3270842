"""``make bench`` runs every module ``python -m bench`` discovers: each must be a benchmark with a ``main``
(a helper another benchmark imports belongs in ``NOT_BENCHMARKS``)."""

from __future__ import annotations

import importlib

from bench.__main__ import discover


def test_every_discovered_benchmark_has_a_main() -> None:
    names = discover()
    assert "eventstore" in names and "logs" in names
    lacking = [n for n in names if not callable(getattr(importlib.import_module(f"bench.{n}"), "main", None))]
    assert lacking == []
