"""Workspace roles and what they allow, modelled on Seqera's: each role has the permissions of the roles below it.

view < connect < launch < maintain < admin < owner. Pure: no I/O.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    VIEW = "view"
    CONNECT = "connect"
    LAUNCH = "launch"
    MAINTAIN = "maintain"
    ADMIN = "admin"
    OWNER = "owner"


ORDER: tuple[Role, ...] = (Role.VIEW, Role.CONNECT, Role.LAUNCH, Role.MAINTAIN, Role.ADMIN, Role.OWNER)

#: What each role adds to the one below it.
_ADDS: dict[Role, frozenset[str]] = {
    Role.VIEW: frozenset({
        "workspace:read", "studio:read", "checkpoint:read", "computeenv:read", "datalink:read", "label:read",
        "template:read", "job:read",
    }),
    Role.CONNECT: frozenset({"studio:connect", "datalink:browse"}),
    Role.LAUNCH: frozenset({
        "studio:create", "studio:start", "studio:stop", "studio:update", "checkpoint:update", "job:create",
        "job:cancel",
    }),
    Role.MAINTAIN: frozenset({"studio:delete", "label:create", "datalink:create", "template:create"}),
    Role.ADMIN: frozenset({
        "workspace:admin", "computeenv:create", "computeenv:delete", "datalink:delete", "label:delete",
        "studio:admin",
    }),
    Role.OWNER: frozenset({"workspace:owner"}),
}


def _cumulative() -> dict[Role, frozenset[str]]:
    out: dict[Role, frozenset[str]] = {}
    acc: frozenset[str] = frozenset()
    for role in ORDER:
        acc = acc | _ADDS[role]
        out[role] = acc
    return out


PERMISSIONS: dict[Role, frozenset[str]] = _cumulative()
ALL_PERMISSIONS: frozenset[str] = PERMISSIONS[Role.OWNER]


def parse_role(value: str) -> Role | None:
    try:
        return Role(value)
    except ValueError:
        return None


def can(role: Role | str | None, permission: str) -> bool:
    """Whether ``role`` grants ``permission``; unknown roles and permissions grant nothing."""
    r = parse_role(role) if isinstance(role, str) else role
    return r is not None and permission in PERMISSIONS[r]


def at_least(role: Role | str | None, minimum: Role) -> bool:
    r = parse_role(role) if isinstance(role, str) else role
    return r is not None and ORDER.index(r) >= ORDER.index(minimum)


def may_grant(granter: Role | str | None, role: Role) -> bool:
    """Admins manage participants up to admin; only owners make or unmake owners."""
    if role is Role.OWNER:
        return at_least(granter, Role.OWNER)
    return can(granter, "workspace:admin")
