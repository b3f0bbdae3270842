"""Command glue for identity: allocate ids, reserve names, ``execute`` the aggregate. Each returns the new id and
the global position appended (None when nothing was appended), for ``wait_for``."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from libs.contracts import identity as ev
from libs.contracts.events import Event
from libs.eventstore import AppendRequest, EventStore, execute
from libs.eventstore.reservations import reserve
from services.gateway.commands import current_trace
from services.gateway.domain import organization as org
from services.gateway.domain import token as tok
from services.gateway.domain import user as usr
from services.gateway.domain import workspace as wsp
from services.gateway.domain.permissions import Role


def new_token() -> str:
    """A bearer token: 256 random bits, URL-safe. Shown once; only its hash is stored."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def meta(actor: str) -> dict[str, str]:
    """Event metadata (DESIGN §2): the actor, this service, and the request's correlation id and traceparent.
    Each command gets a fresh command id (its cause): these handlers do not honour ``Idempotency-Key``."""
    return current_trace().meta(actor).event_metadata(actor=actor, source="gateway")


def with_reservations(
        requests: Sequence[AppendRequest | None]) -> Callable[[Any, Sequence[Event]], list[AppendRequest]]:
    """Reservations to append with the owner's events (``reserve`` gives None for a name already held)."""
    extra = [r for r in requests if r is not None]
    return lambda _state, _events: extra


async def create_user(store: EventStore, *, user_name: str, email: str, actor: str, now: datetime,
                      first_name: str | None = None, last_name: str | None = None, is_admin: bool = False,
                      user_id: int | None = None) -> tuple[int, int | None]:
    uid = user_id if user_id is not None else await store.next_id()
    owner = ev.stream(ev.USER, uid)
    extra = [await reserve(store, "username", user_name.lower(), owner, now, f"User name '{user_name}'"),
             await reserve(store, "useremail", email.lower(), owner, now, f"Email '{email}'")]
    cmd = usr.CreateUser(uid, user_name, email, now, actor, first_name, last_name, is_admin)
    done = await execute(store, owner, cmd, usr.decide, usr.evolve, usr.INITIAL,
                         also=with_reservations(extra), metadata=meta(actor))
    return uid, done.position


async def issue_token(store: EventStore, *, user_id: int, name: str, actor: str, now: datetime,
                      expiry: datetime | None = None, scopes: Sequence[str] = (), token: str | None = None,
                      token_id: int | None = None, rotate: bool = False) -> tuple[int, str, int | None]:
    """Issue (or, with ``rotate``, ensure) a token; returns its id, the token itself and the position."""
    tid = token_id if token_id is not None else await store.next_id()
    secret = token or new_token()
    issue = tok.IssueToken(tid, user_id, name, hash_token(secret), now, actor, expiry, tuple(scopes))
    cmd: tok.TokenCommand = tok.RotateToken(issue) if rotate else issue
    done = await execute(store, ev.stream(ev.TOKEN, tid), cmd, tok.decide, tok.evolve, tok.INITIAL,
                         metadata=meta(actor))
    return tid, secret, done.position


async def revoke_token(store: EventStore, *, token_id: int, actor: str, now: datetime) -> int | None:
    done = await execute(store, ev.stream(ev.TOKEN, token_id), tok.RevokeToken(token_id, now, actor),
                         tok.decide, tok.evolve, tok.INITIAL, metadata=meta(actor))
    return done.position


async def create_org(store: EventStore, *, name: str, full_name: str, owner_user_id: int, actor: str,
                     now: datetime, description: str | None = None, location: str | None = None,
                     website: str | None = None, org_id: int | None = None,
                     member_id: int | None = None) -> tuple[int, int | None]:
    oid = org_id if org_id is not None else await store.next_id()
    mid = member_id if member_id is not None else await store.next_id()
    owner = ev.stream(ev.ORG, oid)
    extra = [await reserve(store, "orgname", name.lower(), owner, now, f"Organization name '{name}'")]
    cmd = org.CreateOrganization(oid, name, full_name, owner_user_id, mid, now, actor, description, location,
                                 website)
    done = await execute(store, owner, cmd, org.decide, org.evolve, org.INITIAL, also=with_reservations(extra),
                         metadata=meta(actor))
    return oid, done.position


async def add_member(store: EventStore, *, org_id: int, user_id: int, role: str, actor: str,
                     now: datetime) -> tuple[int, int | None]:
    mid = await store.next_id()
    cmd = org.AddOrgMember(org_id, mid, user_id, now, actor, role)
    done = await execute(store, ev.stream(ev.ORG, org_id), cmd, org.decide, org.evolve, org.INITIAL,
                         metadata=meta(actor))
    return mid, done.position


async def create_workspace(store: EventStore, *, org_id: int, name: str, full_name: str, owner_user_id: int,
                           actor: str, now: datetime, description: str | None = None,
                           visibility: str = "PRIVATE", workspace_id: int | None = None,
                           participant_id: int | None = None) -> tuple[int, int | None]:
    wid = workspace_id if workspace_id is not None else await store.next_id()
    pid = participant_id if participant_id is not None else await store.next_id()
    owner = ev.stream(ev.WORKSPACE, wid)
    extra = [await reserve(store, "workspacename", f"{org_id}:{name.lower()}", owner, now,
                           f"Workspace name '{name}'")]
    cmd = wsp.CreateWorkspace(wid, org_id, name, full_name, owner_user_id, pid, now, actor, description,
                              visibility)
    done = await _ws(store, wid, cmd, actor, extra)
    return wid, done


async def _ws(store: EventStore, workspace_id: int, cmd: wsp.WorkspaceCommand, actor: str,
              extra: Sequence[AppendRequest | None] = ()) -> int | None:
    done = await execute(store, ev.stream(ev.WORKSPACE, workspace_id), cmd, wsp.decide, wsp.evolve,
                         wsp.INITIAL, also=with_reservations(extra),
                         metadata=meta(actor))
    return done.position


async def add_participant(store: EventStore, *, workspace_id: int, user_id: int, role: str,
                          granter: Role | None, actor: str, now: datetime) -> tuple[int, int | None]:
    pid = await store.next_id()
    cmd = wsp.AddParticipant(pid, user_id, role, granter, now, actor)
    return pid, await _ws(store, workspace_id, cmd, actor)


async def change_role(store: EventStore, *, workspace_id: int, participant_id: int, role: str,
                      granter: Role | None, actor: str, now: datetime) -> int | None:
    cmd = wsp.ChangeParticipantRole(participant_id, role, granter, now, actor)
    return await _ws(store, workspace_id, cmd, actor)


async def remove_participant(store: EventStore, *, workspace_id: int, participant_id: int,
                             granter: Role | None, actor: str, now: datetime, leaving: bool = False) -> int | None:
    cmd = wsp.RemoveParticipant(participant_id, granter, now, actor, leaving)
    return await _ws(store, workspace_id, cmd, actor)

