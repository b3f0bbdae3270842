"""The warm pools' pure rules: refill, retire, hand out, and which starts a pool may honour."""

from __future__ import annotations

from datetime import UTC, datetime

from libs.contracts.studio import StudioConfiguration, StudioTemplate
from libs.contracts.studio_state import State
from services.lifecycle.pools import model, rules
from services.lifecycle.pools.model import (
    Claimed,
    DesiredSet,
    Left,
    MemberStatus,
    PoolClass,
    RetireWanted,
    Spawned,
    SpawnWanted,
    Warmed,
)

A = PoolClass("ce1", "studios/jupyter:4", 1, 1024)
B = PoolClass("ce2", "studios/jupyter:4", 2, 2048)
JUPYTER = StudioTemplate(repository="studios/jupyter:4", tool="jupyter")


def _state(*events: model.PoolEvent) -> model.PoolState:
    return model.fold(list(events))


def test_an_empty_pool_of_size_two_wants_two_spawns_and_none_once_they_exist() -> None:
    s = _state(DesiredSet({A: 2}))
    assert model.refill(s) == [SpawnWanted(A), SpawnWanted(A)]
    s = model.fold([Spawned("m1", A), Spawned("m2", A)], s)
    assert model.refill(s) == []  # warming members count: no double spawn while they import


def test_a_claimed_member_is_replaced_at_once_and_a_left_one_too() -> None:
    s = _state(DesiredSet({A: 2}), Spawned("m1", A), Spawned("m2", A), Warmed("m1"), Warmed("m2"), Claimed("m1"))
    assert model.refill(s) == [SpawnWanted(A)]
    s = model.fold([Left("m1", "bound"), Left("m2", "died")], s)
    assert model.refill(s) == [SpawnWanted(A), SpawnWanted(A)]


def test_only_ready_members_are_handed_out_oldest_first_and_never_twice() -> None:
    s = _state(DesiredSet({A: 3}), Spawned("m1", A), Spawned("m2", A), Spawned("m3", A), Warmed("m2"),
               Warmed("m3"))
    assert model.pick(s, A) == "m2"  # m1 still warming
    s = model.evolve(s, Claimed("m2"))
    assert model.pick(s, A) == "m3"
    s = model.evolve(s, Claimed("m3"))
    assert model.pick(s, A) is None
    assert model.pick(s, B) is None  # another class never gets this class's members


def test_a_late_warm_probe_does_not_unclaim_a_member() -> None:
    s = _state(DesiredSet({A: 1}), Spawned("m1", A), Warmed("m1"), Claimed("m1"), Warmed("m1"))
    assert s.members["m1"].status is MemberStatus.CLAIMED


def test_a_shrunk_pool_retires_warming_members_first_then_the_newest_ready() -> None:
    s = _state(DesiredSet({A: 3}), Spawned("m1", A), Spawned("m2", A), Spawned("m3", A), Warmed("m1"),
               Warmed("m2"))
    assert model.refill(model.evolve(s, DesiredSet({A: 1}))) == [RetireWanted("m3"), RetireWanted("m2")]
    assert model.refill(model.evolve(s, DesiredSet({}))) == [RetireWanted("m3"), RetireWanted("m2"),
                                                             RetireWanted("m1")]


def test_pooled_processes_count_against_capacity() -> None:
    s = _state(DesiredSet({A: 3, B: 1}))
    assert model.refill(s, free_memory_mib=2500) == [SpawnWanted(A), SpawnWanted(A)]
    assert model.refill(s, free_memory_mib=500) == []


def _studio(**config: object) -> State:
    return State(exists=True, session_id="s1", compute_env_id="ce1", template=JUPYTER,
                 configuration=StudioConfiguration(cpu=1, memory=1024).model_copy(update=config))


def test_only_an_exact_plain_start_of_a_pooled_class_is_poolable() -> None:
    assert rules.poolable(_studio(), [A]) == A
    assert rules.poolable(_studio(cpu=2), [A]) is None  # another class
    assert rules.poolable(_studio(environment={"X": "1"}), [A]) is None  # needed at the tool's start
    assert rules.poolable(_studio(mount_data=("dl1",)), [A]) is None  # mounted at launch
    assert rules.poolable(_studio(conda_environment="dependencies: [numpy]"), [A]) is None  # its own env
    assert rules.poolable(_studio(gpu=1), [A]) is None
    echo = _studio().model_copy(update={"template": StudioTemplate(repository="studios/jupyter:4", tool="http-echo")})
    assert rules.poolable(echo, [A]) is None
    assert rules.poolable(_studio(), []) is None  # no pool at all


def test_the_desired_pools_come_from_the_last_setting_of_each_live_local_environment() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC).isoformat()
    pool = {"template": "studios/jupyter:4", "cpu": 1, "memory": 1024, "at": at}
    events = [
        ("computeenv-ce1", "ComputeEnvCreated", {"platform": "local-platform"}),
        ("computeenv-ce1", "ComputeEnvWarmPoolSet", {**pool, "size": 3}),
        ("computeenv-ce1", "ComputeEnvWarmPoolSet", {**pool, "size": 2}),
        ("computeenv-ce2", "ComputeEnvCreated", {"platform": "local-platform"}),
        ("computeenv-ce2", "ComputeEnvWarmPoolSet", {**pool, "size": 2}),
        ("computeenv-ce2", "ComputeEnvDeleted", {}),
        ("computeenv-ce3", "ComputeEnvCreated", {"platform": "docker-platform"}),
        ("computeenv-ce3", "ComputeEnvWarmPoolSet", {**pool, "size": 2}),
        ("computeenv-ce4", "ComputeEnvCreated", {"platform": "local-platform"}),
        ("computeenv-ce4", "ComputeEnvWarmPoolSet", {**pool, "size": 0}),
    ]
    assert rules.desired(events) == {A: 2}
