"""The workspace Studios settings aggregate: a PUT changes only what it sends, null resets, nothing new records
nothing, and bad values are refused before anything is recorded."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from libs.contracts.errors import InvalidInput
from libs.contracts.studio_settings import StudioWorkspaceSettingsChanged
from libs.testing.given_when_then import Aggregate
from services.gateway.domain import studio_settings as settings

T = datetime(2025, 1, 1, tzinfo=UTC)
spec = Aggregate.of(settings)


def change(**changes: Any) -> settings.ChangeSettings:
    return settings.ChangeSettings(workspace_id="1", org_id="10", changes=changes, now=T, actor="7")


def changed(**values: Any) -> StudioWorkspaceSettingsChanged:
    return StudioWorkspaceSettingsChanged(workspace_id="1", org_id="10", at=T, actor="7", **values)


def test_first_change_records_the_whole_record_with_defaults() -> None:
    state = spec.given().when(change(lifespan_hours=8)).then(
        changed(lifespan_hours=8, private_studio_by_default=False, container_repository=None, name_strategy=None))
    assert state.exists and state.values.lifespan_hours == 8


def test_a_change_keeps_the_fields_it_does_not_send() -> None:
    earlier = changed(lifespan_hours=8, container_repository="ghcr.io/acme")
    spec.given(earlier).when(change(private_studio_by_default=True)).then(
        changed(lifespan_hours=8, private_studio_by_default=True, container_repository="ghcr.io/acme"))


def test_a_field_sent_as_null_goes_back_to_its_default() -> None:
    earlier = changed(lifespan_hours=8, private_studio_by_default=True, name_strategy="tagPrefix")
    spec.given(earlier).when(change(lifespan_hours=None, name_strategy=None)).then(
        changed(lifespan_hours=0, private_studio_by_default=True))


def test_a_change_that_changes_nothing_records_nothing() -> None:
    earlier = changed(lifespan_hours=8)
    state = spec.given(earlier).when(change(lifespan_hours=8)).then_nothing()
    assert state.values.lifespan_hours == 8


def test_an_empty_change_of_a_new_workspace_records_the_defaults() -> None:
    spec.given().when(change()).then(changed())


def test_negative_lifespan_is_refused() -> None:
    spec.given().when(change(lifespan_hours=-1)).then_raises(InvalidInput, "lifespanHours")


def test_unknown_name_strategy_is_refused() -> None:
    spec.given().when(change(name_strategy="sideways")).then_raises(InvalidInput, "nameStrategy")


def test_unknown_field_is_refused() -> None:
    spec.given().when(change(colour="blue")).then_raises(InvalidInput, "colour")
