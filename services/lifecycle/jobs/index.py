"""Every job's state in memory, followed from the store by commit horizon (the contract every reader uses), so
the dispatcher decides from what is committed, whichever lifecycle process appended it.

Jobs are also indexed by status and waiting jobs by cluster, kept as each event is folded: a pass over a long
queue on a full cluster reads none of it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from libs.contracts.events import registry
from libs.contracts.job import ACTIVE, CATEGORY, WAITING, JobStatus, State, evolve
from libs.eventstore import EventStore
from libs.eventstore.types import START, Position
from services.lifecycle.jobs.queue import Waiting


@dataclass
class Entry:
    state: State
    seq: int  # global position of the submit: first come, first served


class JobIndex:
    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.jobs: dict[str, Entry] = {}
        self.after: Position = START
        self._by_status: dict[JobStatus | None, set[str]] = {}
        self._waiting: dict[str, set[str]] = {}  # cluster -> its waiting jobs
        self._limits: dict[str, tuple[int, int]] = {}  # cluster -> (seq, max_workers) of its latest job

    async def catch_up(self) -> int:
        """Fold what was committed since the last call; how many events that was."""
        n = 0
        while batch := await self.store.read_all(self.after, categories=[CATEGORY], limit=5000):
            for r in batch:
                job_id = r.stream_name.split("-", 1)[1]
                entry = self.jobs.get(job_id)
                event = registry.load(r.event_type, r.schema_version, r.data)
                if entry is None:
                    entry = self.jobs[job_id] = Entry(evolve(State(), event), r.global_position)
                    self._file(job_id, None, entry)
                else:
                    before = entry.state.status
                    entry.state = evolve(entry.state, event)
                    self._file(job_id, before, entry)
            self.after = Position(batch[-1].tx_id, batch[-1].global_position)
            n += len(batch)
        return n

    def _file(self, job_id: str, before: JobStatus | None, entry: Entry) -> None:
        s = entry.state
        cluster = s.spec.cluster_id if s.spec else ""
        if before is not None and before != s.status:
            self._by_status.get(before, set()).discard(job_id)
            if before in WAITING:
                self._waiting.get(cluster, set()).discard(job_id)
        self._by_status.setdefault(s.status, set()).add(job_id)
        if s.status in WAITING:
            self._waiting.setdefault(cluster, set()).add(job_id)
        if s.spec is not None and (cluster not in self._limits or self._limits[cluster][0] < entry.seq):
            self._limits[cluster] = (entry.seq, s.spec.max_workers)

    def state(self, job_id: str) -> State | None:
        entry = self.jobs.get(job_id)
        return entry.state if entry else None

    def of_status(self, *statuses: JobStatus) -> list[State]:
        return [self.jobs[j].state for st in statuses for j in self._by_status.get(st, ())]

    def waiting(self, clusters: Iterable[str] | None = None) -> list[Waiting]:
        """The waiting jobs of these clusters (all when None)."""
        out = []
        for cluster in self._waiting if clusters is None else clusters:
            for job_id in self._waiting.get(cluster, ()):
                e = self.jobs[job_id]
                s = e.state
                if s.spec is not None and s.created_at is not None:
                    queued_at = max(s.created_at, s.spec.start_after) if s.spec.start_after else s.created_at
                    out.append(Waiting(s.job_id, cluster, s.spec.priority, e.seq, queued_at, s.spec.start_after))
        return out

    def waiting_clusters(self) -> list[str]:
        return [c for c, ids in self._waiting.items() if ids]

    def active_by_cluster(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for s in self.of_status(*ACTIVE):
            if s.spec is not None:
                counts[s.spec.cluster_id] = counts.get(s.spec.cluster_id, 0) + 1
        return counts

    def limits(self) -> dict[str, int]:
        """Each cluster's ``max_workers``, as its latest submitted job saw it."""
        return {c: m for c, (_, m) in self._limits.items()}
