"""The console's pure pieces: the create form's fields as the API's request, and the presentation filters."""

from __future__ import annotations

import pytest

from services.gateway.console.studios import create_body
from services.gateway.console.view import badge, initials, when


def test_empty_fields_are_left_to_the_api_defaults() -> None:
    body = create_body({"name": "a", "computeEnvId": "local", "template": "studios/jupyter:4", "cpu": ""}, [])
    assert body == {"name": "a", "description": None, "computeEnvId": "local",
                    "dataStudioToolUrl": "studios/jupyter:4", "configuration": {}}


def test_resources_command_links_and_checkpoint_become_the_seqera_request() -> None:
    form = {"name": "b", "computeEnvId": "local", "template": "studios/custom:1", "cpu": "2", "memory": "1024",
            "lifespanHours": "3", "command": "sh -c 'echo hi && sleep 9'", "checkpoint": "7"}
    body = create_body(form, ["dl1", "dl2"])
    assert body["configuration"] == {"cpu": 2, "memory": 1024, "lifespanHours": 3,
                                     "command": ["sh", "-c", "echo hi && sleep 9"], "mountData": ["dl1", "dl2"]}
    assert body["initialCheckpointId"] == 7  # "start a new studio from this checkpoint"


def test_a_non_number_is_refused_before_the_api() -> None:
    with pytest.raises(ValueError):
        create_body({"name": "c", "computeEnvId": "local", "cpu": "two"}, [])


def test_initials_badges_and_times() -> None:
    assert (initials("ada.lovelace"), initials("admin"), initials(None)) == ("AL", "A", "?")
    assert (badge("running"), badge("starting"), badge("errored"), badge("stopped")) == ("ok", "busy", "bad", "idle")
    assert when("2026-12-01T23:47:33Z") == "2026-12-01 23:47:33 UTC" and when(None) == "—"
