"""Aggregates of identity: user (``user-<id>``) and token (``token-<id>``). Pure. Organizations: ``organization``.

Every ``decide`` is idempotent for a repeated identical create (returns no events), so bootstrap and retried
requests are safe; a different create on an existing stream is a conflict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime

from libs.contracts.errors import Conflict, InvalidInput, NotFound
from libs.contracts.events import Event
from libs.contracts.identity import (
    TokenIssued,
    TokenRevoked,
    TokenRotated,
    UserCreated,
)
from services.gateway.domain.permissions import ALL_PERMISSIONS

NAME = re.compile(r"^[a-zA-Z\d](?:[a-zA-Z\d]|[-_](?=[a-zA-Z\d])){1,38}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


def check_name(value: str, what: str) -> None:
    """Seqera's name rule: 2-39 letters, digits, single dashes or underscores between them."""
    if not NAME.match(value):
        raise InvalidInput(f"Invalid {what} name '{value}': use 2-39 letters, digits, '-' or '_' "
                           "(not at either end, not twice in a row)")


def check_text(value: str | None, what: str, limit: int = 100) -> None:
    if value is not None and len(value) > limit:
        raise InvalidInput(f"{what} is longer than {limit} characters")


# -- user -----------------------------------------------------------------------------------------------------

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


def decide_user(state: User, c: CreateUser) -> list[Event]:
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


def evolve_user(state: User, e: Event) -> User:
    if isinstance(e, UserCreated):
        return User(True, e.user_name, e.email, e.is_admin)
    return state


# -- token ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Token:
    exists: bool = False
    user_id: int = 0
    token_hash: str = ""
    revoked: bool = False


@dataclass(frozen=True)
class IssueToken:
    token_id: int
    user_id: int
    name: str
    token_hash: str
    now: datetime
    actor: str
    expiry: datetime | None = None
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True)
class RotateToken:
    """Issue the token when missing, else make it answer to ``token_hash`` (the bootstrap admin token)."""

    issue: IssueToken


@dataclass(frozen=True)
class RevokeToken:
    token_id: int
    now: datetime
    actor: str


TokenCommand = IssueToken | RotateToken | RevokeToken


def _issue(state: Token, c: IssueToken) -> list[Event]:
    if state.exists:
        if state.token_hash == c.token_hash:
            return []
        raise Conflict(f"Token {c.token_id} already exists")
    if not 1 <= len(c.name.strip()) <= 100:
        raise InvalidInput("A token needs a name of 1-100 characters")
    if c.expiry is not None and (c.expiry.tzinfo is None or c.expiry <= c.now):
        raise InvalidInput("The token expiry must be a future date-time with a time zone")
    unknown = sorted(set(c.scopes) - ALL_PERMISSIONS)
    if unknown:
        raise InvalidInput(f"Unknown token scopes: {', '.join(unknown)}")
    return [TokenIssued(token_id=c.token_id, user_id=c.user_id, name=c.name.strip(), token_hash=c.token_hash,
                        expiry=c.expiry, scopes=tuple(c.scopes), at=c.now, actor=c.actor)]


def decide_token(state: Token, c: TokenCommand) -> list[Event]:
    if isinstance(c, IssueToken):
        return _issue(state, c)
    if isinstance(c, RotateToken):
        i = c.issue
        if not state.exists:
            return _issue(state, i)
        if state.token_hash == i.token_hash:
            return []
        return [TokenRotated(token_id=i.token_id, token_hash=i.token_hash, at=i.now, actor=i.actor)]
    if not state.exists:
        raise NotFound(f"Token {c.token_id} not found")
    if state.revoked:
        return []
    return [TokenRevoked(token_id=c.token_id, user_id=state.user_id, at=c.now, actor=c.actor)]


def evolve_token(state: Token, e: Event) -> Token:
    if isinstance(e, TokenIssued):
        return Token(True, e.user_id, e.token_hash, False)
    if isinstance(e, TokenRotated):
        return replace(state, token_hash=e.token_hash, revoked=False)
    if isinstance(e, TokenRevoked):
        return replace(state, revoked=True)
    return state
