"""File-sync zones, pure: a sync records both sides' manifest, a pull moves the stored copy and names its author,
and conflicts are the paths both sides changed since this studio's last sync to different content."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from libs.contracts.checkpoint import ManifestRef
from libs.contracts.errors import InvalidInput
from libs.contracts.zone import SyncDirection, ZoneSynced, scope
from libs.testing.given_when_then import Aggregate
from services.checkpoints import zones

Z = "project_lib-versioned"
SPEC = Aggregate.of(zones)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def ref(n: int) -> ManifestRef:
    return ManifestRef(uri=f"zones/manifests/{n}", sha256=f"{n:064x}", size=n)


def sync(session: str, direction: SyncDirection, n: int, actor: str = "1") -> zones.RecordSync:
    return zones.RecordSync(scope="w1." + Z, zone=Z, session_id=session, direction=direction, manifest=ref(n),
                            files=n, size=n, copied=n, copied_size=n, now=NOW, actor=actor)


def synced(c: zones.RecordSync) -> ZoneSynced:
    return ZoneSynced(scope=c.scope, zone=c.zone, session_id=c.session_id, direction=c.direction,
                      manifest=c.manifest, files=c.files, size=c.size, copied=c.copied, copied_size=c.copied_size,
                      at=c.now, actor=c.actor)


def test_a_push_makes_the_stored_copy_the_studios_base_and_leaves_the_stored_copy_as_it_was() -> None:
    pull, push = sync("a", SyncDirection.PULL, 1), sync("b", SyncDirection.PUSH, 1)
    state = SPEC.given(synced(pull)).when(push).then(synced(push))
    assert state.stored == ref(1) and state.base_of("b") == ref(1) and state.syncs == 2


def test_a_pull_moves_the_stored_copy_and_names_its_author_to_studios_synced_before() -> None:
    first, theirs = sync("a", SyncDirection.PUSH, 1), sync("b", SyncDirection.PULL, 2, actor="7")
    state = SPEC.given(synced(first)).when(theirs).then(synced(theirs))
    assert state.stored == ref(2) and state.base_of("a") == ref(1)
    assert state.authors_since("a") == ["7"] and state.authors_since("b") == []


def test_an_unknown_zone_is_refused() -> None:
    bad = sync("a", SyncDirection.PULL, 1).model_copy(update={"zone": "elsewhere"})
    with pytest.raises(InvalidInput):
        zones.decide(zones.INITIAL, bad)


def test_changes_name_added_modified_and_deleted_paths() -> None:
    c = zones.changes({"a": "1", "b": "2", "c": "3"}, {"a": "1", "b": "9", "d": "4"})
    assert (c.added, c.modified, c.deleted) == (("d",), ("b",), ("c",))


def test_conflicts_are_paths_both_sides_changed_differently_since_the_base() -> None:
    base = {"same.py": "0", "both.py": "0", "gone.py": "0", "alike.py": "0", "mine.py": "0"}
    studio = {"same.py": "0", "both.py": "studio", "alike.py": "x", "mine.py": "m", "new.py": "s"}
    stored = {"same.py": "0", "both.py": "stored", "gone.py": "edited", "alike.py": "x", "mine.py": "0",
              "new.py": "t"}
    mine, theirs, clash = zones.conflicts(base, studio, stored)
    assert clash.modified == ("both.py",) and clash.deleted == ("gone.py",) and clash.added == ("new.py",)
    assert "alike.py" in mine.modified and "alike.py" in theirs.modified  # the same edit on both sides: no clash
    assert "mine.py" not in clash.paths()  # changed on one side only


def test_scopes_follow_dataiku_project_lib_per_project_user_per_user_code_studio_per_studio() -> None:
    assert scope("project_lib-versioned", "1", "7", "s1") == scope("project_lib-versioned", "1", "9", "s2")
    assert scope("user-versioned", "1", "7", "s1") == scope("user-versioned", "1", "7", "s2")
    assert scope("user-versioned", "1", "7", "s1") != scope("user-versioned", "1", "9", "s1")
    assert scope("code_studio-versioned", "1", "7", "s1") != scope("code_studio-versioned", "1", "7", "s2")
