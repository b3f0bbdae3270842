"""The Civis dialect's translation, pure: ids, images, states, permission levels, resources and params."""

from __future__ import annotations

import pytest

from libs.contracts.errors import NotFound
from libs.contracts.studio import StudioConfiguration, StudioStatus
from services.gateway.api.civis import translate as t
from services.gateway.api.civis.display import signature
from services.gateway.api.civis.requests import Param, RequiredResources
from services.gateway.domain.permissions import Role


def test_a_studio_id_is_its_session_id_read_as_a_number_and_back() -> None:
    assert t.studio_id("1a2b3c4d") == 0x1A2B3C4D and t.session_of(0x1A2B3C4D) == "1a2b3c4d"
    assert t.session_of(5) == "00000005" and t.studio_id("00000005") == 5
    assert t.studio_id("not-hex!") is None and t.studio_id("1a2b3c4d5") is None
    with pytest.raises(NotFound):
        t.session_of(2**32)


def test_an_image_splits_at_its_last_colon_with_latest_by_default() -> None:
    assert t.split_image("studios/http-echo:1") == ("studios/http-echo", "1")
    assert t.split_image("registry:5000/team/tool") == ("registry:5000/team/tool", "latest")
    assert t.image("studios/jupyter", None) == "studios/jupyter:latest" and t.image(None, "1") is None


def test_states_and_permission_levels_in_civis_words() -> None:
    assert t.state_of(StudioStatus.RUNNING) == "running" and t.state_of("building") == "pending"
    assert t.state_of("buildFailed") == "failed" and t.state_of("stopped") == "stopped"
    assert [t.permission_level(r) for r in (Role.VIEW, Role.CONNECT, Role.LAUNCH, Role.MAINTAIN, Role.OWNER)] == \
        ["read", "read", "write", "manage", "manage"]
    assert t.permission_level(None) == "read"


def test_resources_and_params_round_trip_and_credential_values_are_never_shown() -> None:
    params = [Param(name="N", type="integer", value=3), Param(name="ON", type="bool", value=True),
              Param(name="KEY", type="credential_aws", value=17, description="warehouse")]
    c = t.configure(StudioConfiguration(), RequiredResources(cpu=1500, memory=768, disk_space=0.25), params,
                    {"instanceType": "m5.large", "gitCredentialId": None})
    assert (c.cpu, c.memory) == (2, 768) and c.environment["N"] == "3" and c.environment["ON"] == "true"
    assert t.resources_of(c) == {"cpu": 2000, "memory": 768, "diskSpace": 0.25}
    assert t.params_of(c) == [{"name": "N", "description": None, "type": "integer", "value": 3},
                              {"name": "ON", "description": None, "type": "bool", "value": True},
                              {"name": "KEY", "description": "warehouse", "type": "credential_aws", "value": None}]
    assert t.meta(c)["instanceType"] == "m5.large" and "gitCredentialId" not in t.meta(c)
    replaced = t.configure(c, None, [Param(name="M", type="string", value="x")], {})
    assert "N" not in replaced.environment and [p["name"] for p in t.params_of(replaced)] == ["M"]


def test_a_display_link_signature_covers_every_part_of_it() -> None:
    key = b"k" * 32
    base = signature(key, "1a2b3c4d", 1, 7, 1000)
    assert base != signature(key, "1a2b3c4e", 1, 7, 1000) and base != signature(key, "1a2b3c4d", 2, 7, 1000)
    assert base != signature(key, "1a2b3c4d", 1, 8, 1000) and base != signature(key, "1a2b3c4d", 1, 7, 1001)
    assert base != signature(b"j" * 32, "1a2b3c4d", 1, 7, 1000)


def test_a_studio_with_nothing_civis_only_gets_no_civis_variable() -> None:
    c = t.configure(StudioConfiguration(environment={"A": "1"}), RequiredResources(memory=1024), None, {})
    assert c.environment == {"A": "1"} and c.memory == 1024 and t.params_of(c) == []
