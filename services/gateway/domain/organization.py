"""The organization aggregate (``org-<id>``) and its members. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from libs.contracts.errors import Conflict, InvalidInput, NotFound
from libs.contracts.events import Event
from libs.contracts.identity import OrganizationCreated, OrgMemberAdded
from services.gateway.domain.checks import check_name, check_text

ORG_ROLES = ("owner", "member", "collaborator")


@dataclass(frozen=True)
class Org:
    exists: bool = False
    name: str = ""
    members: dict[int, str] = field(default_factory=dict)  # user id -> org role


@dataclass(frozen=True)
class CreateOrganization:
    org_id: int
    name: str
    full_name: str
    owner_user_id: int
    owner_member_id: int
    now: datetime
    actor: str
    description: str | None = None
    location: str | None = None
    website: str | None = None


@dataclass(frozen=True)
class AddOrgMember:
    org_id: int
    member_id: int
    user_id: int
    now: datetime
    actor: str
    role: str = "member"


def decide(state: Org, c: CreateOrganization | AddOrgMember) -> list[Event]:
    if isinstance(c, CreateOrganization):
        if state.exists:
            if state.name == c.name:
                return []
            raise Conflict(f"Organization {c.org_id} already exists")
        check_name(c.name, "organization")
        for value, what in ((c.full_name, "fullName"), (c.location, "location"), (c.website, "website")):
            check_text(value, what)
        check_text(c.description, "description", 1000)
        return [OrganizationCreated(org_id=c.org_id, name=c.name, full_name=c.full_name or c.name,
                                    description=c.description, location=c.location, website=c.website,
                                    at=c.now, actor=c.actor),
                OrgMemberAdded(org_id=c.org_id, member_id=c.owner_member_id, user_id=c.owner_user_id,
                               role="owner", at=c.now, actor=c.actor)]
    if not state.exists:
        raise NotFound(f"Organization {c.org_id} not found")
    if c.role not in ORG_ROLES:
        raise InvalidInput(f"Unknown organization role '{c.role}'")
    if c.user_id in state.members:
        raise Conflict(f"User {c.user_id} is already a member of this organization")
    return [OrgMemberAdded(org_id=c.org_id, member_id=c.member_id, user_id=c.user_id, role=c.role, at=c.now,
                           actor=c.actor)]


def evolve(state: Org, e: Event) -> Org:
    if isinstance(e, OrganizationCreated):
        return Org(True, e.name, {})
    if isinstance(e, OrgMemberAdded):
        return replace(state, members={**state.members, e.user_id: e.role})
    return state


INITIAL = Org()
