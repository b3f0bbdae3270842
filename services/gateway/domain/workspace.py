"""The workspace aggregate (``workspace-<id>``) and its participants. Pure.

Who may grant what is decided here from the granter's effective role (resolved by the caller): admins manage
participants up to ``admin``; only owners make, unmake or remove owners; the last owner cannot leave or be demoted.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from libs.contracts.errors import Conflict, Forbidden, InvalidInput, NotFound
from libs.contracts.events import Event
from libs.contracts.identity import ParticipantAdded, ParticipantRemoved, ParticipantRoleChanged, WorkspaceCreated
from services.gateway.domain.checks import check_name, check_text
from services.gateway.domain.permissions import Role, may_grant, parse_role

VISIBILITIES = ("PRIVATE", "SHARED")


@dataclass(frozen=True)
class Participant:
    participant_id: int
    user_id: int
    role: Role


@dataclass(frozen=True)
class Workspace:
    exists: bool = False
    org_id: int = 0
    name: str = ""
    participants: dict[int, Participant] = field(default_factory=dict)  # by participant id
    workspace_id: int = 0

    def by_user(self, user_id: int) -> Participant | None:
        return next((p for p in self.participants.values() if p.user_id == user_id), None)

    def owners(self) -> int:
        return sum(1 for p in self.participants.values() if p.role is Role.OWNER)


@dataclass(frozen=True)
class CreateWorkspace:
    workspace_id: int
    org_id: int
    name: str
    full_name: str
    owner_user_id: int
    owner_participant_id: int
    now: datetime
    actor: str
    description: str | None = None
    visibility: str = "PRIVATE"


@dataclass(frozen=True)
class AddParticipant:
    participant_id: int
    user_id: int
    role: str
    granter: Role | None
    now: datetime
    actor: str


@dataclass(frozen=True)
class ChangeParticipantRole:
    participant_id: int
    role: str
    granter: Role | None
    now: datetime
    actor: str


@dataclass(frozen=True)
class RemoveParticipant:
    participant_id: int
    granter: Role | None
    now: datetime
    actor: str
    leaving: bool = False  # a participant removing themselves needs no admin role


WorkspaceCommand = CreateWorkspace | AddParticipant | ChangeParticipantRole | RemoveParticipant


def _role(value: str) -> Role:
    role = parse_role(value)
    if role is None:
        raise InvalidInput(f"Unknown workspace role '{value}': use one of owner, admin, maintain, launch, "
                           "connect, view")
    return role


def _create(state: Workspace, c: CreateWorkspace) -> list[Event]:
    if state.exists:
        if (state.org_id, state.name) == (c.org_id, c.name):
            return []
        raise Conflict(f"Workspace {c.workspace_id} already exists")
    check_name(c.name, "workspace")
    check_text(c.full_name, "fullName")
    check_text(c.description, "description", 1000)
    if c.visibility not in VISIBILITIES:
        raise InvalidInput(f"Unknown visibility '{c.visibility}': use PRIVATE or SHARED")
    return [WorkspaceCreated(workspace_id=c.workspace_id, org_id=c.org_id, name=c.name,
                             full_name=c.full_name or c.name, description=c.description,
                             visibility=c.visibility, at=c.now, actor=c.actor),
            ParticipantAdded(workspace_id=c.workspace_id, participant_id=c.owner_participant_id,
                             user_id=c.owner_user_id, role=Role.OWNER.value, at=c.now, actor=c.actor)]


def _participant(state: Workspace, participant_id: int) -> Participant:
    p = state.participants.get(participant_id)
    if p is None:
        raise NotFound(f"Participant {participant_id} not found in this workspace")
    return p


def _check_grant(granter: Role | None, *roles: Role) -> None:
    for role in roles:
        if not may_grant(granter, role):
            raise Forbidden(f"Your role cannot grant or change the '{role.value}' role")


def decide(state: Workspace, c: WorkspaceCommand) -> list[Event]:
    if isinstance(c, CreateWorkspace):
        return _create(state, c)
    if not state.exists:
        raise NotFound("Workspace not found")
    ws = state.workspace_id
    if isinstance(c, AddParticipant):
        role = _role(c.role)
        _check_grant(c.granter, role)
        if state.by_user(c.user_id) is not None:
            raise Conflict("This user is already a participant of the workspace")
        return [ParticipantAdded(workspace_id=ws, participant_id=c.participant_id, user_id=c.user_id,
                                 role=role.value, at=c.now, actor=c.actor)]
    p = _participant(state, c.participant_id)
    if isinstance(c, ChangeParticipantRole):
        role = _role(c.role)
        if role is p.role:
            return []
        _check_grant(c.granter, role, p.role)
        if p.role is Role.OWNER and state.owners() == 1:
            raise Conflict("The last owner of a workspace cannot be demoted")
        return [ParticipantRoleChanged(workspace_id=ws, participant_id=p.participant_id, user_id=p.user_id,
                                       role=role.value, at=c.now, actor=c.actor)]
    if not c.leaving:
        _check_grant(c.granter, p.role)
    if p.role is Role.OWNER and state.owners() == 1:
        raise Conflict("The last owner of a workspace cannot leave it")
    return [ParticipantRemoved(workspace_id=ws, participant_id=p.participant_id, user_id=p.user_id, at=c.now,
                               actor=c.actor)]


def evolve(state: Workspace, e: Event) -> Workspace:
    if isinstance(e, WorkspaceCreated):
        return Workspace(True, e.org_id, e.name, {}, e.workspace_id)
    if isinstance(e, ParticipantAdded):
        p = Participant(e.participant_id, e.user_id, Role(e.role))
        return replace(state, participants={**state.participants, p.participant_id: p})
    if isinstance(e, ParticipantRoleChanged):
        p = replace(state.participants[e.participant_id], role=Role(e.role))
        return replace(state, participants={**state.participants, p.participant_id: p})
    if isinstance(e, ParticipantRemoved):
        return replace(state, participants={k: v for k, v in state.participants.items()
                                            if k != e.participant_id})
    return state


INITIAL = Workspace()
