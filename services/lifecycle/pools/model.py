"""The warm pools' state, pure: which pooled processes exist per class, which to start, which to retire, which
a start may take. No I/O, no clock; the manager (``manager.py``) feeds it what it saw and does what it decides.

A class is (compute environment, template, cpu, memory): a start is honoured by a pool only when its studio asks
for exactly that class and nothing a pooled process cannot have had at its start (``rules.poolable``).
A member goes ``warming`` (spawned, importing the tool) -> ``ready`` (waiting on its bind FIFO) -> ``claimed``
(a start recorded its claim; it is being bound) and then leaves the pool, bound to a studio. It may leave from
any state by dying or being retired (its class shrank, or was dropped). Only ``ready`` members are handed out.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum


@dataclass(frozen=True, order=True)
class PoolClass:
    compute_env_id: str
    template: str  # repository, as ``dataStudioToolUrl`` names it
    cpu: int
    memory: int  # MiB


class MemberStatus(StrEnum):
    WARMING = "warming"
    READY = "ready"
    CLAIMED = "claimed"


@dataclass(frozen=True)
class Member:
    member_id: str
    cls: PoolClass
    status: MemberStatus = MemberStatus.WARMING
    seq: int = 0  # spawn order: the oldest ready member is handed out first, the newest retired first


@dataclass(frozen=True)
class PoolState:
    members: dict[str, Member] = field(default_factory=dict)
    desired: dict[PoolClass, int] = field(default_factory=dict)
    seq: int = 0

    def of(self, cls: PoolClass, *statuses: MemberStatus) -> list[Member]:
        wanted = statuses or tuple(MemberStatus)
        return sorted((m for m in self.members.values() if m.cls == cls and m.status in wanted), key=lambda m: m.seq)

    def ready(self, cls: PoolClass) -> int:
        return len(self.of(cls, MemberStatus.READY))


# -- events (facts the manager reports, and decisions) ------------------------------------------------------------

@dataclass(frozen=True)
class DesiredSet:
    desired: dict[PoolClass, int]


@dataclass(frozen=True)
class SpawnWanted:
    cls: PoolClass


@dataclass(frozen=True)
class Spawned:
    member_id: str
    cls: PoolClass


@dataclass(frozen=True)
class Warmed:
    member_id: str


@dataclass(frozen=True)
class Claimed:
    member_id: str


@dataclass(frozen=True)
class Left:
    """Bound to a studio, died, retired or reaped: no longer in the pool."""

    member_id: str
    why: str


@dataclass(frozen=True)
class RetireWanted:
    member_id: str


PoolEvent = DesiredSet | SpawnWanted | Spawned | Warmed | Claimed | Left | RetireWanted


def evolve(state: PoolState, e: PoolEvent) -> PoolState:
    if isinstance(e, DesiredSet):
        return replace(state, desired={c: n for c, n in e.desired.items() if n > 0})
    if isinstance(e, Spawned):
        seq = state.seq + 1
        return replace(state, members={**state.members, e.member_id: Member(e.member_id, e.cls, seq=seq)}, seq=seq)
    if isinstance(e, Warmed | Claimed) and e.member_id in state.members:
        status = MemberStatus.READY if isinstance(e, Warmed) else MemberStatus.CLAIMED
        member = state.members[e.member_id]
        if isinstance(e, Warmed) and member.status is not MemberStatus.WARMING:
            return state  # a late probe must not un-claim a member
        return replace(state, members={**state.members, e.member_id: replace(member, status=status)})
    if isinstance(e, Left):
        return replace(state, members={k: v for k, v in state.members.items() if k != e.member_id})
    return state  # SpawnWanted, RetireWanted: decisions, acted on by the manager


# -- decisions ------------------------------------------------------------------------------------------------------

def refill(state: PoolState, free_memory_mib: int | None = None) -> list[PoolEvent]:
    """What to start and what to retire so every class has its size (claimed members are on their way out and
    count for nothing). A pooled process counts against the host's capacity like a session: with
    ``free_memory_mib`` (capacity left once sessions and members are counted), a class is only refilled while
    its memory fits, so the pool yields to real sessions. Retiring takes warming members first, then the newest."""
    out: list[PoolEvent] = []
    free = free_memory_mib
    classes = sorted({*state.desired, *(m.cls for m in state.members.values())})
    for cls in classes:
        want = state.desired.get(cls, 0)
        kept = state.of(cls, MemberStatus.WARMING, MemberStatus.READY)
        if len(kept) > want:
            surplus = sorted(kept, key=lambda m: (m.status is MemberStatus.READY, -m.seq))[:len(kept) - want]
            out += [RetireWanted(m.member_id) for m in surplus]
            continue
        for _ in range(want - len(kept)):
            if free is not None:
                if free < cls.memory:
                    break
                free -= cls.memory
            out.append(SpawnWanted(cls))
    return out


def pick(state: PoolState, cls: PoolClass) -> str | None:
    """The member a start of ``cls`` should try to claim: the oldest ready one (warm the longest)."""
    ready = state.of(cls, MemberStatus.READY)
    return ready[0].member_id if ready else None


def fold(events: list[PoolEvent], state: PoolState | None = None) -> PoolState:
    out = state or PoolState()
    for e in events:
        out = evolve(out, e)
    return out
