import itertools

from services.gateway.domain.permissions import ALL_PERMISSIONS, ORDER, Role, at_least, can, may_grant


def test_view_reads_but_does_not_create_or_connect() -> None:
    assert can(Role.VIEW, "studio:read")
    assert not can(Role.VIEW, "studio:create")
    assert not can(Role.VIEW, "studio:connect")


def test_connect_connects_but_does_not_start() -> None:
    assert can("connect", "studio:connect")
    assert not can("connect", "studio:start")


def test_launch_creates_starts_and_stops_but_does_not_delete() -> None:
    for p in ("studio:create", "studio:start", "studio:stop", "studio:update"):
        assert can(Role.LAUNCH, p)
    assert not can(Role.LAUNCH, "studio:delete")


def test_admin_administers_the_workspace_and_owner_has_everything() -> None:
    assert can(Role.ADMIN, "workspace:admin") and not can(Role.MAINTAIN, "workspace:admin")
    assert all(can(Role.OWNER, p) for p in ALL_PERMISSIONS)


def test_each_role_has_every_permission_of_the_roles_below() -> None:
    for lower, higher in itertools.pairwise(ORDER):
        assert {p for p in ALL_PERMISSIONS if can(lower, p)} < {p for p in ALL_PERMISSIONS if can(higher, p)}


def test_unknown_roles_and_permissions_grant_nothing() -> None:
    assert not can("superuser", "studio:read")
    assert not can(None, "studio:read")
    assert not can(Role.OWNER, "studio:fly")


def test_only_owners_grant_owner_and_admins_grant_the_rest() -> None:
    assert may_grant(Role.OWNER, Role.OWNER) and not may_grant(Role.ADMIN, Role.OWNER)
    assert may_grant(Role.ADMIN, Role.ADMIN) and not may_grant(Role.MAINTAIN, Role.VIEW)
    assert at_least("admin", Role.MAINTAIN) and not at_least("view", Role.CONNECT)
