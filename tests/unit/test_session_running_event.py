"""StudioSessionRunning v2 carries no proxy secret; v1 events that did are stripped of it on load."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from libs.contracts.events import registry
from libs.contracts.studio import StudioSessionRunning
from libs.platform.session_keys import session_secret

AT = datetime(2026, 1, 1, tzinfo=UTC).isoformat()
HANDLE = {"session_id": "s1-1", "backend": "local", "ident": "42", "host": "127.0.0.1", "port": 9000,
          "started_at": 1.0}


def _v1(**handle: object) -> dict[str, object]:
    return {"session_id": "s1", "at": AT, "actor": "lifecycle", "run": 1, "handle": HANDLE | handle,
            "url": "/connect/s1/"}


def test_a_v1_event_loses_its_secret_on_load() -> None:
    event = registry.load("StudioSessionRunning", 1, _v1(secret="sekrit"))
    assert isinstance(event, StudioSessionRunning)
    assert "secret" not in event.handle and event.handle == HANDLE


def test_a_v1_event_without_a_secret_loads_unchanged() -> None:
    event = registry.load("StudioSessionRunning", 1, _v1())
    assert isinstance(event, StudioSessionRunning) and event.handle == HANDLE


def test_a_new_event_refuses_a_secret_in_its_handle() -> None:
    with pytest.raises(ValidationError, match="secret"):
        StudioSessionRunning.model_validate(_v1(secret="sekrit"))


def test_the_current_version_is_2() -> None:
    event_type, version, data = registry.dump(StudioSessionRunning.model_validate(_v1()))
    assert (event_type, version) == ("StudioSessionRunning", 2) and "secret" not in data["handle"]


def test_secrets_differ_per_run_and_key_and_are_stable() -> None:
    key, other = b"k" * 32, b"o" * 32
    assert session_secret(key, "s1-1") == session_secret(key, "s1-1")
    assert len({session_secret(key, "s1-1"), session_secret(key, "s1-2"), session_secret(other, "s1-1")}) == 3
