"""The checkpoint aggregate, given events, when a command, then events (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from libs.contracts.checkpoint import (
    CHECKPOINT_EVENTS,
    CheckpointCreated,
    CheckpointDeleted,
    CheckpointInvalidated,
    CheckpointRenamed,
    CheckpointRestored,
    CheckpointSaved,
    CheckpointSaveFailed,
    CheckpointStatus,
    ManifestRef,
    SaveKind,
    checkpoint_id,
)
from libs.contracts.errors import Conflict, InvalidInput, NotFound
from libs.contracts.events import registry
from libs.testing.given_when_then import Aggregate
from services.checkpoints import checkpoint as cp

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)
ID = checkpoint_id("s1", 1)
spec = Aggregate.of(cp)
COMMON = {"checkpoint_id": ID, "session_id": "s1", "actor": "lifecycle"}
M1 = ManifestRef(uri="manifests/1/a", sha256="a" * 64, size=10)
M2 = ManifestRef(uri="manifests/1/b", sha256="b" * 64, size=12)

created = CheckpointCreated(**COMMON, at=T0, run=1, name="checkpoint_1", workspace_id="1", author_id="7",
                            path="manifests/1")


def saved(kind: SaveKind, status: CheckpointStatus, manifest: ManifestRef = M1, files: int = 3,
          at: datetime = T1) -> CheckpointSaved:
    return CheckpointSaved(**COMMON, at=at, kind=kind, status=status, manifest=manifest, size=100, file_count=files,
                           bytes_written=50, chunks_written=2, files_read=3)


def save(kind: SaveKind, manifest: ManifestRef = M1, files: int = 3, at: datetime = T1) -> cp.RecordSave:
    return cp.RecordSave(**COMMON, now=at, kind=kind, manifest=manifest, size=100, file_count=files,
                         bytes_written=50, chunks_written=2, files_read=3)


def test_checkpoint_ids_are_stable_positive_and_exact_in_javascript() -> None:
    assert checkpoint_id("s1", 1) == ID
    assert checkpoint_id("s1", 2) != ID
    assert 0 < ID < 2**53


def test_create_names_with_underscores_and_a_repeat_is_nothing() -> None:
    command = cp.Create(**COMMON, now=T0, run=1, name="my first  one", workspace_id="1", author_id="7",
                        path="manifests/1")
    state = spec.given().when(command).then(created.model_copy(update={"name": "my_first__one"}))
    assert state.exists and state.status is CheckpointStatus.EMPTY and state.manifest is None
    spec.given(created).when(command).then_nothing()


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, "tab\tname"])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput):
        cp.normalize_name(name)


def test_a_start_save_of_an_empty_workspace_is_empty_with_files_interim() -> None:
    spec.given(created).when(save(SaveKind.START, files=0)).then(saved(SaveKind.START, CheckpointStatus.EMPTY,
                                                                       files=0))
    state = spec.given(created).when(save(SaveKind.START)).then(saved(SaveKind.START, CheckpointStatus.INTERIM))
    assert state.good and state.manifest == M1 and state.date_saved == T1


def test_interim_then_final_saves_and_nothing_after_the_final() -> None:
    state = spec.given(created, saved(SaveKind.INTERIM, CheckpointStatus.INTERIM)).when(
        save(SaveKind.FINAL, M2)).then(saved(SaveKind.FINAL, CheckpointStatus.FINALIZED, M2))
    assert state.status is CheckpointStatus.FINALIZED
    done = spec.given(created, saved(SaveKind.FINAL, CheckpointStatus.FINALIZED, M2))
    done.when(save(SaveKind.FINAL, M2)).then_nothing()  # the final save reported twice
    done.when(save(SaveKind.INTERIM, M1)).then_raises(Conflict)


def test_a_failed_save_keeps_the_last_good_one() -> None:
    failed = CheckpointSaveFailed(**COMMON, at=T1, kind=SaveKind.INTERIM, message="disk full")
    command = cp.RecordSaveFailed(**COMMON, now=T1, kind=SaveKind.INTERIM, message="disk full")
    state = spec.given(created, saved(SaveKind.START, CheckpointStatus.INTERIM)).when(command).then(failed)
    assert state.status is CheckpointStatus.INTERIM and state.manifest == M1 and state.last_failure == "disk full"


def test_a_failed_first_save_is_invalid() -> None:
    command = cp.RecordSaveFailed(**COMMON, now=T1, kind=SaveKind.START, message="killed")
    state = spec.given(created).when(command).then(
        CheckpointSaveFailed(**COMMON, at=T1, kind=SaveKind.START, message="killed"))
    assert state.status is CheckpointStatus.INVALID and not state.good


def test_invalidated_once_and_never_restored() -> None:
    given = spec.given(created, saved(SaveKind.FINAL, CheckpointStatus.FINALIZED))
    invalid = CheckpointInvalidated(**COMMON, at=T1, message="chunk ab12 digest mismatch")
    state = given.when(cp.Invalidate(**COMMON, now=T1, message="chunk ab12 digest mismatch")).then(invalid)
    assert state.status is CheckpointStatus.INVALID
    again = spec.given(created, saved(SaveKind.FINAL, CheckpointStatus.FINALIZED), invalid)
    again.when(cp.Invalidate(**COMMON, now=T1, message="chunk ab12 digest mismatch")).then_nothing()
    again.when(cp.RecordRestore(**COMMON, now=T1, into_session_id="s2", into_run=1, files=1, size=1)).then_raises(
        Conflict)


def test_a_good_checkpoint_records_its_restore() -> None:
    spec.given(created, saved(SaveKind.FINAL, CheckpointStatus.FINALIZED)).when(
        cp.RecordRestore(**COMMON, now=T1, into_session_id="s2", into_run=1, files=3, size=100)).then(
        CheckpointRestored(**COMMON, at=T1, into_session_id="s2", into_run=1, files=3, size=100))


def test_rename_and_the_same_name_is_nothing() -> None:
    state = spec.given(created).when(cp.Rename(**COMMON, now=T1, new_name="before upgrade")).then(
        CheckpointRenamed(**COMMON, at=T1, name="before_upgrade", previous_name="checkpoint_1"))
    assert state.name == "before_upgrade"
    spec.given(created).when(cp.Rename(**COMMON, now=T1, new_name="checkpoint_1")).then_nothing()


def test_the_latest_good_of_a_live_studio_cannot_be_deleted_others_can() -> None:
    given = spec.given(created, saved(SaveKind.FINAL, CheckpointStatus.FINALIZED))
    given.when(cp.Delete(**COMMON, now=T1, last_good_of_live_studio=True)).then_raises(Conflict)
    state = given.when(cp.Delete(**COMMON, now=T1, last_good_of_live_studio=False)).then(
        CheckpointDeleted(**COMMON, at=T1, name="checkpoint_1"))
    assert state.deleted and not state.good


def test_a_deleted_or_unknown_checkpoint_is_not_found() -> None:
    deleted = CheckpointDeleted(**COMMON, at=T1, name="checkpoint_1")
    spec.given(created, deleted).when(cp.Rename(**COMMON, now=T1, new_name="x")).then_raises(NotFound)
    spec.given().when(save(SaveKind.INTERIM)).then_raises(NotFound)


def test_every_checkpoint_event_is_registered_and_round_trips() -> None:
    sample = saved(SaveKind.FINAL, CheckpointStatus.FINALIZED)
    for cls in CHECKPOINT_EVENTS:
        assert registry.known(cls.event_type)
    etype, version, data = registry.dump(sample)
    assert registry.load(etype, version, data) == sample
