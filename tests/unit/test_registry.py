"""The registry loads stored rows back into typed events, lifting old schema versions through upcasters."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from pydantic import ValidationError

from libs.contracts.events import Event, EventRegistry, UnknownEventType

reg = EventRegistry()


@reg.register
class StudioRenamed(Event):
    """v1 had ``name``; v2 split it into ``name`` and ``display_name``; v3 added ``reason``."""

    event_type: ClassVar[str] = "StudioRenamed"
    schema_version: ClassVar[int] = 3
    studio_id: str
    name: str
    display_name: str
    reason: str


@reg.upcaster("StudioRenamed", 1)
def upcast_studio_renamed_v1_v2(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "name": data["name"].lower().replace(" ", "-"), "display_name": data["name"]}


@reg.upcaster("StudioRenamed", 2)
def upcast_studio_renamed_v2_v3(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "reason": "unknown"}


def test_a_v1_row_is_upcast_through_every_version() -> None:
    event = reg.load("StudioRenamed", 1, {"studio_id": "s1", "name": "My Studio"})
    assert event == StudioRenamed(studio_id="s1", name="my-studio", display_name="My Studio", reason="unknown")


def test_a_row_at_an_intermediate_version_starts_from_there() -> None:
    event = reg.load("StudioRenamed", 2, {"studio_id": "s1", "name": "a", "display_name": "A"})
    assert event == StudioRenamed(studio_id="s1", name="a", display_name="A", reason="unknown")


def test_a_current_row_is_loaded_as_is_and_round_trips() -> None:
    event = StudioRenamed(studio_id="s1", name="a", display_name="A", reason="typo")
    assert reg.dump(event) == ("StudioRenamed", 3, event.model_dump(mode="json"))
    assert reg.load(*reg.dump(event)) == event


def test_an_unknown_type_or_a_bad_payload_is_refused() -> None:
    with pytest.raises(UnknownEventType):
        reg.load("NeverHeardOf", 1, {})
    with pytest.raises(ValidationError):
        reg.load("StudioRenamed", 3, {"studio_id": "s1", "name": "a", "display_name": "A", "reason": "x", "extra": 1})


def test_a_type_is_registered_once() -> None:
    class Impostor(Event):
        event_type: ClassVar[str] = "StudioRenamed"

    with pytest.raises(ValueError):
        reg.register(Impostor)
