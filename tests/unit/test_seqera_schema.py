"""The schema helper itself: it knows OpenAPI's ``nullable``, picks literal paths first and catches what strict
clients reject (a null the schema does not allow, a value outside an enum, a missing required field)."""

from __future__ import annotations

import pytest

from libs.testing.seqera_schema import SchemaMismatch, specs

STATUS = {"status": "running", "lastUpdate": "2026-01-01T00:00:00Z"}
STUDIO = {"sessionId": "s1", "name": "n", "statusInfo": STATUS, "labels": None, "remoteConfig": {
    "repository": "https://example.org/r.git", "revision": None, "commitId": None}}


def test_a_studio_with_only_allowed_nulls_fits() -> None:
    assert specs().check("GET", "/studios/s1", 200, STUDIO) is not None


@pytest.mark.parametrize("bad", [
    {**STUDIO, "parentCheckpoint": None},
    {**STUDIO, "statusInfo": {**STATUS, "message": None}},
    {**STUDIO, "statusInfo": {**STATUS, "stopReason": "USER_REQUEST"}},
    {**STUDIO, "remoteConfig": {"revision": "main"}},
])
def test_what_a_strict_client_rejects_is_a_mismatch(bad: dict[str, object]) -> None:
    with pytest.raises(SchemaMismatch):
        specs().check("GET", "/studios/s1", 200, bad)


def test_literal_paths_win_over_templates() -> None:
    op = specs().operation("GET", "/studios/templates")
    assert op is not None and op.template == "/studios/templates"


def test_paths_outside_the_specs_are_not_checked() -> None:
    assert specs().check("GET", "/studios/s1/events", 200, {"anything": None}) is None


def test_an_undeclared_success_status_is_a_mismatch() -> None:
    with pytest.raises(SchemaMismatch, match="declares no 201"):
        specs().check("GET", "/studios/s1", 201, STUDIO)


def test_identity_paths_come_from_the_platform_spec() -> None:
    op = specs().operation("GET", "/user-info")
    assert op is not None and op.spec == "seqera-platform-openapi.yaml"
