"""Every job's state in memory, followed from the store by commit horizon (the contract every reader uses), so
the dispatcher decides from what is committed, whichever lifecycle process appended it."""

from __future__ import annotations

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

    async def catch_up(self) -> int:
        """Fold what was committed since the last call; how many events that was."""
        n = 0
        while batch := await self.store.read_all(self.after, categories=[CATEGORY], limit=5000):
            for r in batch:
                job_id = r.stream_name.split("-", 1)[1]
                entry = self.jobs.get(job_id)
                state = evolve(entry.state if entry else State(), registry.load(r.event_type, r.schema_version,
                                                                               r.data))
                if entry is None:
                    self.jobs[job_id] = Entry(state, r.global_position)
                else:
                    entry.state = state
            self.after = Position(batch[-1].tx_id, batch[-1].global_position)
            n += len(batch)
        return n

    def state(self, job_id: str) -> State | None:
        entry = self.jobs.get(job_id)
        return entry.state if entry else None

    def of_status(self, *statuses: JobStatus) -> list[State]:
        return [e.state for e in self.jobs.values() if e.state.status in statuses]

    def waiting(self) -> list[Waiting]:
        out = []
        for e in self.jobs.values():
            s = e.state
            if s.status in WAITING and s.spec is not None and s.created_at is not None:
                queued_at = max(s.created_at, s.spec.start_after) if s.spec.start_after else s.created_at
                out.append(Waiting(s.job_id, s.spec.cluster_id, s.spec.priority, e.seq, queued_at,
                                   s.spec.start_after))
        return out

    def active_by_cluster(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for e in self.jobs.values():
            if e.state.status in ACTIVE and e.state.spec is not None:
                counts[e.state.spec.cluster_id] = counts.get(e.state.spec.cluster_id, 0) + 1
        return counts

    def limits(self) -> dict[str, int]:
        """Each cluster's ``max_workers``, as its latest submitted job saw it."""
        latest: dict[str, tuple[int, int]] = {}
        for e in self.jobs.values():
            spec = e.state.spec
            if spec is not None and (spec.cluster_id not in latest or latest[spec.cluster_id][0] < e.seq):
                latest[spec.cluster_id] = (e.seq, spec.max_workers)
        return {c: m for c, (_, m) in latest.items()}
