"""The user aggregate (``user-<id>``). Pure.

A repeated identical create decides nothing (bootstrap and retried requests are safe); a different create on an
existing stream is a conflict.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from libs.contracts.errors import Conflict, InvalidInput
from libs.contracts.events import Event
from libs.contracts.identity import UserCreated
from services.gateway.domain.checks import EMAIL, check_name, check_text


@dataclass(frozen=True)
class User:
    exists: bool = False
    user_name: str = ""
    email: str = ""
    is_admin: bool = False


@dataclass(frozen=True)
class CreateUser:
    user_id: int
    user_name: str
    email: str
    now: datetime
    actor: str
    first_name: str | None = None
    last_name: str | None = None
    is_admin: bool = False


def decide(state: User, c: CreateUser) -> list[Event]:
    if state.exists:
        if (state.user_name, state.email) == (c.user_name, c.email):
            return []
        raise Conflict(f"User {c.user_id} already exists")
    check_name(c.user_name, "user")
    if not EMAIL.match(c.email) or len(c.email) > 254:
        raise InvalidInput(f"Invalid email address '{c.email}'")
    check_text(c.first_name, "firstName")
    check_text(c.last_name, "lastName")
    return [UserCreated(user_id=c.user_id, user_name=c.user_name, email=c.email, first_name=c.first_name,
                        last_name=c.last_name, is_admin=c.is_admin, at=c.now, actor=c.actor)]


def evolve(state: User, e: Event) -> User:
    if isinstance(e, UserCreated):
        return User(True, e.user_name, e.email, e.is_admin)
    return state


INITIAL = User()
