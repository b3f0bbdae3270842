"""The one studio visibility and connect policy. Pure: the caller's effective workspace role is resolved first
(``access.auth.role_in``) and passed in.

- A studio in a workspace where the caller has no role that reads studios is hidden: 404, as if it did not exist.
- A private studio is hidden from everyone but its creator and those who administer studios in its workspace
  (``studio:admin``: workspace admins and owners, organization owners, system administrators).
- Those administrators may start, stop and delete a private studio, but connecting to it is its creator's alone:
  403 for them.
- Otherwise the role must grant the permission, and a scoped token must include it: 403 if not.

The REST API (``api/seqera/studios/access.py``) and the proxy (``proxy/wiring.py``) both call ``check``; studio
lists apply ``visible`` in SQL (``read/studios.py``), with ``ADMINISTERING_ROLES`` as its parameter.
"""

from __future__ import annotations

from typing import Protocol

from libs.contracts.errors import Forbidden, NotFound
from libs.contracts.studio_state import State
from services.gateway.domain.permissions import ORDER, Role, can

READ = "studio:read"
CONNECT = "studio:connect"
ADMIN = "studio:admin"
#: The workspace roles that see every private studio of their workspace.
ADMINISTERING_ROLES: tuple[str, ...] = tuple(r.value for r in ORDER if can(r, ADMIN))


class Caller(Protocol):
    """What the policy needs of an authenticated caller (``access.auth.Principal`` fits)."""

    @property
    def user_id(self) -> int | str: ...

    def allows(self, permission: str) -> bool: ...


def is_creator(caller: Caller, state: State) -> bool:
    return str(caller.user_id) == state.user_id


def visible(caller: Caller, role: Role | None, state: State) -> bool:
    """Whether the studio exists for this caller at all."""
    if role is None or not can(role, READ):
        return False
    return not state.is_private or is_creator(caller, state) or can(role, ADMIN)


def check(caller: Caller, role: Role | None, state: State, permission: str) -> None:
    """Returns when ``caller`` (with ``role`` in the studio's workspace) may do ``permission`` to the studio;
    raises ``NotFound`` when the studio is hidden from them, ``Forbidden`` when it is visible but refused."""
    if not visible(caller, role, state):
        raise NotFound(f"Studio {state.session_id} not found")
    assert role is not None  # visible() holds only with a role
    if permission == CONNECT and state.is_private and not is_creator(caller, state):
        raise Forbidden(f"Studio {state.session_id} is private: only its creator can connect to it")
    if not can(role, permission):
        raise Forbidden(f"Your role '{role.value}' does not allow {permission} on studio {state.session_id}")
    if not caller.allows(permission):
        raise Forbidden(f"This token's scopes do not include '{permission}'")
