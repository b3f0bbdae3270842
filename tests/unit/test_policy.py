"""The one studio policy, as the API and the proxy both apply it: 404 hides, 403 refuses; a private studio is
seen by its creator and the workspace's administrators, and connected to by its creator alone."""

from __future__ import annotations

import pytest

from libs.contracts.errors import Forbidden, NotFound
from libs.contracts.studio_state import State
from services.gateway.access import policy
from services.gateway.access.auth import Principal
from services.gateway.domain.permissions import Role


def user(user_id: int, scopes: tuple[str, ...] = ()) -> Principal:
    return Principal(user_id, f"u{user_id}", "u@example.org", False, 1, scopes)


PUBLIC = State(exists=True, session_id="s1", workspace_id="1", user_id="7")
PRIVATE = PUBLIC.model_copy(update={"is_private": True})
CREATOR, OTHER = user(7), user(8)


@pytest.mark.parametrize(("who", "role", "state", "outcome"), [
    (CREATOR, Role.CONNECT, PUBLIC, None),
    (OTHER, Role.CONNECT, PUBLIC, None),
    (OTHER, Role.VIEW, PUBLIC, Forbidden),
    (OTHER, None, PUBLIC, NotFound),
    (user(8, ("studio:read",)), Role.OWNER, PUBLIC, Forbidden),
    (CREATOR, Role.CONNECT, PRIVATE, None),
    (OTHER, Role.LAUNCH, PRIVATE, NotFound),
    (OTHER, Role.ADMIN, PRIVATE, Forbidden),
    (OTHER, Role.OWNER, PRIVATE, Forbidden),
])
def test_connect(who: Principal, role: Role | None, state: State, outcome: type[Exception] | None) -> None:
    if outcome is None:
        policy.check(who, role, state, policy.CONNECT)
    else:
        with pytest.raises(outcome):
            policy.check(who, role, state, policy.CONNECT)


@pytest.mark.parametrize(("who", "role", "permission", "outcome"), [
    (CREATOR, Role.LAUNCH, "studio:stop", None),
    (OTHER, Role.ADMIN, "studio:read", None),  # admins see private studios...
    (OTHER, Role.ADMIN, "studio:stop", None),  # ...and may stop and delete them
    (OTHER, Role.ADMIN, "studio:delete", None),
    (OTHER, Role.MAINTAIN, "studio:read", NotFound),  # below admin they do not exist
    (CREATOR, Role.VIEW, "studio:stop", Forbidden),  # the creator still needs the role
    (user(7, ("studio:read",)), Role.LAUNCH, "studio:stop", Forbidden),  # and the token's scope
])
def test_private_studio(who: Principal, role: Role, permission: str, outcome: type[Exception] | None) -> None:
    if outcome is None:
        policy.check(who, role, PRIVATE, permission)
    else:
        with pytest.raises(outcome):
            policy.check(who, role, PRIVATE, permission)


def test_visible_matches_check_for_reading() -> None:
    for who in (CREATOR, OTHER):
        for role in (None, *Role):
            for state in (PUBLIC, PRIVATE):
                try:
                    policy.check(who, role, state, policy.READ)
                    readable = True
                except NotFound:
                    readable = False
                assert policy.visible(who, role, state) is readable, (who.user_id, role, state.is_private)


def test_the_roles_that_see_private_studios_are_the_administering_ones() -> None:
    assert policy.ADMINISTERING_ROLES == ("admin", "owner")
