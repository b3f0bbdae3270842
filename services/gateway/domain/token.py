"""The token aggregate (``token-<id>``): issue, rotate (the bootstrap admin token), revoke. Pure.

A repeated identical issue decides nothing; a revoked token stays revoked (a second revoke is a no-op).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from libs.contracts.errors import Conflict, InvalidInput, NotFound
from libs.contracts.events import Event
from libs.contracts.identity import TokenIssued, TokenRevoked, TokenRotated
from services.gateway.domain.permissions import ALL_PERMISSIONS


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


def decide(state: Token, c: TokenCommand) -> list[Event]:
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


def evolve(state: Token, e: Event) -> Token:
    if isinstance(e, TokenIssued):
        return Token(True, e.user_id, e.token_hash, False)
    if isinstance(e, TokenRotated):
        return replace(state, token_hash=e.token_hash, revoked=False)
    if isinstance(e, TokenRevoked):
        return replace(state, revoked=True)
    return state


INITIAL = Token()
