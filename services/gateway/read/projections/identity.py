"""Projection ``gateway.identity``: identity and resource events into the ``read`` tables, exactly once.

Reads the identity categories and the name-reservation categories (their events change nothing here, but reading
them lets the checkpoint pass every position a write returns, which read-your-writes relies on). An event type
this code does not know is an error (parked after its tries, visible in ``studios parked list``), never skipped.
Every statement is an upsert or a keyed update, so a rebuild from position zero gives the same tables; the tables
are versioned (``read.users_v<n>`` behind the view ``read.users``, migration 0003), so ``studios projections
rebuild gateway.identity`` rebuilds them blue/green like ``studios``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg

from libs.contracts import identity as ev
from libs.contracts.events import Event, registry
from libs.eventstore import EventStore, RecordedEvent
from libs.eventstore.subscription import Handler
from services.gateway.read.projections.base import Follower, Projection

NAME = "gateway.identity"
CATEGORIES: tuple[str, ...] = tuple(ev.CATEGORIES)
TABLES = ("users", "tokens", "orgs", "org_members", "workspaces", "participants", "compute_envs", "data_links",
          "labels")


class Tables:
    """The table names of one version: ``t.users`` is ``read.users_v<n>``."""

    def __init__(self, version: int) -> None:
        for table in TABLES:
            setattr(self, table, f"read.{table}_v{version}")

    def __getattr__(self, table: str) -> str:  # for the type checker: every attribute is a table name
        raise AttributeError(table)


Apply = Callable[[asyncpg.Connection, Tables, Event], Awaitable[None]]
_HANDLERS: dict[type[Event], Apply] = {}


def _on(cls: type[Event]) -> Callable[[Apply], Apply]:
    def deco(fn: Apply) -> Apply:
        _HANDLERS[cls] = fn
        return fn
    return deco


@_on(ev.UserCreated)
async def _user(c: asyncpg.Connection, t: Tables, e: Event) -> None:
    assert isinstance(e, ev.UserCreated)
    await c.execute(
        f"""INSERT INTO {t.users} (id, user_name, email, first_name, last_name, is_admin, date_created, last_updated)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (id) DO NOTHING""",
        e.user_id, e.user_name, e.email, e.first_name, e.last_name, e.is_admin, e.at)


@_on(ev.TokenIssued)
async def _token(c: asyncpg.Connection, t: Tables, e: Event) -> None:
    assert isinstance(e, ev.TokenIssued)
    await c.execute(
        f"""INSERT INTO {t.tokens} (id, user_id, name, token_hash, scopes, expiry, date_created)
           VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING""",
        e.token_id, e.user_id, e.name, e.token_hash, list(e.scopes), e.expiry, e.at)


@_on(ev.TokenRotated)
async def _rotated(c: asyncpg.Connection, t: Tables, e: Event) -> None:
    assert isinstance(e, ev.TokenRotated)
    await c.execute(f"UPDATE {t.tokens} SET token_hash = $2, revoked = false, revoked_at = NULL WHERE id = $1",
                    e.token_id, e.token_hash)


@_on(ev.TokenRevoked)
async def _revoked(c: asyncpg.Connection, t: Tables, e: Event) -> None:
    assert isinstance(e, ev.TokenRevoked)
    await c.execute(f"UPDATE {t.tokens} SET revoked = true, revoked_at = $2 WHERE id = $1", e.token_id, e.at)


@_on(ev.OrganizationCreated)
async def _org(c: asyncpg.Connection, t: Tables, e: Event) -> None:
    assert isinstance(e, ev.OrganizationCreated)
    await c.execute(
        f"""INSERT INTO {t.orgs} (id, name, full_name, description, location, website, date_created, last_updated)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (id) DO NOTHING""",
        e.org_id, e.name, e.full_name, e.description, e.location, e.website, e.at)


@_on(ev.OrgMemberAdded)
async def _member(c: asyncpg.Connection, t: Tables, e: Event) -> None:
    assert isinstance(e, ev.OrgMemberAdded)
    await c.execute(
        f"""INSERT INTO {t.org_members} (member_id, org_id, user_id, role) VALUES ($1, $2, $3, $4)
           ON CONFLICT (member_id) DO UPDATE SET role = EXCLUDED.role""",
        e.member_id, e.org_id, e.user_id, e.role)


@_on(ev.WorkspaceCreated)
async def _workspace(c: asyncpg.Connection, t: Tables, e: Event) -> None:
    assert isinstance(e, ev.WorkspaceCreated)
    await c.execute(
        f"""INSERT INTO {t.workspaces} (id, org_id, name, full_name, description, visibility, date_created,
                                        last_updated)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (id) DO NOTHING""",
        e.workspace_id, e.org_id, e.name, e.full_name, e.description, e.visibility, e.at)


@_on(ev.ParticipantAdded)
async def _participant(c: asyncpg.Connection, t: Tables, e: Event) -> None:
    assert isinstance(e, ev.ParticipantAdded)
    await c.execute(
        f"""INSERT INTO {t.participants} (participant_id, workspace_id, user_id, role) VALUES ($1, $2, $3, $4)
           ON CONFLICT (participant_id) DO UPDATE SET role = EXCLUDED.role""",
        e.participant_id, e.workspace_id, e.user_id, e.role)


@_on(ev.ParticipantRoleChanged)
async def _role(c: asyncpg.Connection, t: Tables, e: Event) -> None:
    assert isinstance(e, ev.ParticipantRoleChanged)
    await c.execute(f"UPDATE {t.participants} SET role = $2 WHERE participant_id = $1", e.participant_id, e.role)


@_on(ev.ParticipantRemoved)
async def _removed(c: asyncpg.Connection, t: Tables, e: Event) -> None:
    assert isinstance(e, ev.ParticipantRemoved)
    await c.execute(f"DELETE FROM {t.participants} WHERE participant_id = $1", e.participant_id)


@_on(ev.ComputeEnvCreated)
async def _compute_env(c: asyncpg.Connection, t: Tables, e: Event) -> None:
    assert isinstance(e, ev.ComputeEnvCreated)
    await c.execute(
        f"""INSERT INTO {t.compute_envs} (id, workspace_id, name, platform, config, description, credentials_id,
                                          allow_custom_commands, status, created_by, date_created, last_updated)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'AVAILABLE', $9, $10, $10) ON CONFLICT (id) DO NOTHING""",
        e.compute_env_id, e.workspace_id, e.name, e.platform, e.config, e.description, e.credentials_id,
        e.allow_custom_commands, e.actor, e.at)


@_on(ev.ComputeEnvDeleted)
async def _compute_env_deleted(c: asyncpg.Connection, t: Tables, e: Event) -> None:
    assert isinstance(e, ev.ComputeEnvDeleted)
    await c.execute(f"UPDATE {t.compute_envs} SET deleted = true, status = 'DELETING', last_updated = $2 "
                    "WHERE id = $1", e.compute_env_id, e.at)


@_on(ev.DataLinkCreated)
async def _data_link(c: asyncpg.Connection, t: Tables, e: Event) -> None:
    assert isinstance(e, ev.DataLinkCreated)
    await c.execute(
        f"""INSERT INTO {t.data_links} (id, workspace_id, name, description, type, provider, resource_ref,
                                        public_accessible, credentials_id, status, created_by, date_created)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'VALID', $10, $11) ON CONFLICT (id) DO NOTHING""",
        e.data_link_id, e.workspace_id, e.name, e.description, e.type, e.provider, e.resource_ref,
        e.public_accessible, e.credentials_id, e.actor, e.at)


@_on(ev.LabelCreated)
async def _label(c: asyncpg.Connection, t: Tables, e: Event) -> None:
    assert isinstance(e, ev.LabelCreated)
    await c.execute(
        f"""INSERT INTO {t.labels} (id, workspace_id, name, value, resource, is_default, date_created)
           VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING""",
        e.label_id, e.workspace_id, e.name, e.value, e.resource, e.is_default, e.at)


def handler(version: int) -> Handler:
    tables = Tables(version)

    async def project(conn: asyncpg.Connection, record: RecordedEvent) -> None:
        # an unknown type raises UnknownEventType: tried, backed off, then parked; a known one without a handler
        # here (a name reservation) changes nothing in these tables
        event = registry.load(record.event_type, record.schema_version, record.data)
        apply = _HANDLERS.get(type(event))
        if apply is not None:
            await apply(conn, tables, event)

    return project


IDENTITY = Projection(
    name=NAME,
    categories=CATEGORIES,
    handler=handler,
    create_sql="SELECT read.create_identity_tables($1)",
    serve_sql="SELECT read.serve_identity_tables($1)",
    tables=TABLES,
)


def identity_subscription(store: EventStore, **options: float) -> Follower:
    """The projection's runner, following whichever version serves; ``await it.run(stop)`` in the lifespan."""
    return Follower(store, IDENTITY, options)
