"""The queue policy, pure: which waiting jobs take which free slots now.

Per cluster, at most ``max_workers`` jobs hold a slot. Waiting jobs go by priority (DataChain's: 0 first, 5 last),
first come first served within one priority (``seq``: the global position of the submit), and age: every
``aging`` seconds of waiting lifts a job one priority, so a steady stream of urgent jobs never starves the rest.
A job with ``start_after`` in the future is not due yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

DEFAULT_AGING_SECONDS = 600.0


@dataclass(frozen=True)
class Waiting:
    job_id: str
    cluster_id: str
    priority: int
    seq: int
    queued_at: datetime
    start_after: datetime | None = None


def effective_priority(job: Waiting, now: datetime, aging: float = DEFAULT_AGING_SECONDS) -> float:
    waited = max(0.0, (now - job.queued_at).total_seconds())
    return job.priority - (waited // aging if aging > 0 else 0)


def pick(waiting: Iterable[Waiting], active: Mapping[str, int], limits: Mapping[str, int], now: datetime,
         aging: float = DEFAULT_AGING_SECONDS) -> list[str]:
    """The jobs to dispatch now, in dispatch order. ``active``: slots held per cluster; ``limits``: each
    cluster's ``max_workers`` (a cluster missing from it gets one slot)."""
    waiting = list(waiting)
    free = {c: max(0, limits.get(c, 1) - active.get(c, 0)) for c in {w.cluster_id for w in waiting}}
    # only clusters with a free slot are sorted: a long queue on a full cluster costs a scan, not a sort
    due = [w for w in waiting if free[w.cluster_id] and (w.start_after is None or w.start_after <= now)]
    due.sort(key=lambda w: (effective_priority(w, now, aging), w.seq))
    chosen: list[str] = []
    for w in due:
        if free[w.cluster_id] > 0:
            free[w.cluster_id] -= 1
            chosen.append(w.job_id)
    return chosen
