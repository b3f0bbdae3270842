"""Plain SQL reads of the identity read models, answering in Seqera's field names (camelCase)."""

from __future__ import annotations

from typing import Any

import asyncpg

from services.gateway.read import Db

Row = dict[str, Any]

_USER = """id, user_name AS "userName", email, first_name AS "firstName", last_name AS "lastName",
  date_created AS "dateCreated", last_updated AS "lastUpdated", false AS deleted, is_admin AS "isAdmin" """


def one(r: asyncpg.Record | None) -> Row | None:
    return dict(r) if r is not None else None


async def token_principal(db: Db, token_hash: str) -> Row | None:
    """The token and its user, whether or not it is still valid (the caller decides)."""
    return one(await db.fetchrow(
        """SELECT t.id AS token_id, t.scopes, t.expiry, t.revoked, t.expiry IS NOT NULL AND t.expiry <= now()
                  AS expired, u.id AS user_id, u.user_name, u.email, u.is_admin
             FROM read.tokens t JOIN read.users u ON u.id = t.user_id WHERE t.token_hash = $1""", token_hash))


async def user(db: Db, user_id: int) -> Row | None:
    return one(await db.fetchrow(f"SELECT {_USER} FROM read.users WHERE id = $1", user_id))


async def user_id_by_name_or_email(db: Db, name_or_email: str) -> int | None:
    v = await db.fetchval(
        "SELECT id FROM read.users WHERE lower(user_name) = lower($1) OR lower(email) = lower($1) "
        "ORDER BY id LIMIT 1", name_or_email)
    return int(v) if v is not None else None


async def default_workspace_id(db: Db, user_id: int) -> int | None:
    v = await db.fetchval(
        "SELECT workspace_id FROM read.participants WHERE user_id = $1 ORDER BY participant_id LIMIT 1", user_id)
    return int(v) if v is not None else None


async def tokens(db: Db, user_id: int) -> list[Row]:
    rows = await db.fetch(
        """SELECT id, name, date_created AS "dateCreated", last_used AS "lastUsed", expiry, scopes
             FROM read.tokens WHERE user_id = $1 AND NOT revoked ORDER BY id""", user_id)
    return [dict(r) for r in rows]


async def token_owner(db: Db, token_id: int) -> int | None:
    v = await db.fetchval("SELECT user_id FROM read.tokens WHERE id = $1 AND NOT revoked", token_id)
    return int(v) if v is not None else None


_ORG = """o.id AS "orgId", o.name, o.full_name AS "fullName", o.description, o.location, o.website,
  m.member_id AS "memberId", m.role AS "memberRole", 'basic' AS type, false AS paying"""


async def orgs(db: Db, user_id: int, everything: bool) -> list[Row]:
    rows = await db.fetch(
        f"""SELECT {_ORG} FROM read.orgs o
              LEFT JOIN read.org_members m ON m.org_id = o.id AND m.user_id = $1
             WHERE $2 OR m.member_id IS NOT NULL OR EXISTS (
                   SELECT 1 FROM read.participants p JOIN read.workspaces w ON w.id = p.workspace_id
                    WHERE p.user_id = $1 AND w.org_id = o.id)
             ORDER BY o.id""", user_id, everything)
    return [dict(r) for r in rows]


async def org(db: Db, org_id: int, user_id: int) -> Row | None:
    return one(await db.fetchrow(
        f"""SELECT {_ORG} FROM read.orgs o LEFT JOIN read.org_members m ON m.org_id = o.id AND m.user_id = $2
             WHERE o.id = $1""", org_id, user_id))


async def members(db: Db, org_id: int, search: str | None = None) -> list[Row]:
    rows = await db.fetch(
        """SELECT m.member_id AS "memberId", u.id AS "userId", u.user_name AS "userName", u.email,
                  u.first_name AS "firstName", u.last_name AS "lastName", m.role
             FROM read.org_members m JOIN read.users u ON u.id = m.user_id
            WHERE m.org_id = $1 AND ($2::text IS NULL OR u.user_name ILIKE '%' || $2 || '%'
                                     OR u.email ILIKE '%' || $2 || '%')
            ORDER BY m.member_id""", org_id, search)
    return [dict(r) for r in rows]


async def member(db: Db, member_id: int) -> Row | None:
    return one(await db.fetchrow(
        """SELECT m.member_id AS "memberId", u.id AS "userId", u.user_name AS "userName", u.email,
                  u.first_name AS "firstName", u.last_name AS "lastName", m.role, m.org_id AS "orgId"
             FROM read.org_members m JOIN read.users u ON u.id = m.user_id WHERE m.member_id = $1""", member_id))


async def member_of(db: Db, org_id: int, user_id: int) -> Row | None:
    return one(await db.fetchrow(
        "SELECT member_id, role FROM read.org_members WHERE org_id = $1 AND user_id = $2", org_id, user_id))


_WS = """w.id, w.name, w.full_name AS "fullName", w.description, w.visibility, w.org_id AS "orgId",
  w.date_created AS "dateCreated", w.last_updated AS "lastUpdated" """


async def workspaces(db: Db, org_id: int, user_id: int, everything: bool) -> list[Row]:
    rows = await db.fetch(
        f"""SELECT {_WS} FROM read.workspaces w
             WHERE w.org_id = $1 AND ($3 OR EXISTS (
                   SELECT 1 FROM read.participants p WHERE p.workspace_id = w.id AND p.user_id = $2))
             ORDER BY w.id""", org_id, user_id, everything)
    return [dict(r) for r in rows]


async def workspace(db: Db, workspace_id: int) -> Row | None:
    return one(await db.fetchrow(f"SELECT {_WS} FROM read.workspaces w WHERE w.id = $1", workspace_id))


async def access(db: Db, workspace_id: int, user_id: int) -> Row | None:
    """The workspace's org and the user's participant role and org role in it; None when no such workspace."""
    return one(await db.fetchrow(
        """SELECT w.org_id, p.role AS participant_role, m.role AS org_role
             FROM read.workspaces w
             LEFT JOIN read.participants p ON p.workspace_id = w.id AND p.user_id = $2
             LEFT JOIN read.org_members m ON m.org_id = w.org_id AND m.user_id = $2
            WHERE w.id = $1""", workspace_id, user_id))


_PARTICIPANT = """p.participant_id AS "participantId", m.member_id AS "memberId", u.user_name AS "userName",
  u.first_name AS "firstName", u.last_name AS "lastName", u.email, m.role AS "orgRole", p.role AS "wspRole",
  CASE WHEN m.role IN ('owner', 'member') THEN 'MEMBER' ELSE 'COLLABORATOR' END AS type, u.id AS "userId"
  FROM read.participants p JOIN read.users u ON u.id = p.user_id
  JOIN read.workspaces w ON w.id = p.workspace_id
  LEFT JOIN read.org_members m ON m.org_id = w.org_id AND m.user_id = p.user_id"""


async def participants(db: Db, workspace_id: int, search: str | None = None) -> list[Row]:
    rows = await db.fetch(
        f"""SELECT {_PARTICIPANT} WHERE p.workspace_id = $1 AND ($2::text IS NULL
              OR u.user_name ILIKE '%' || $2 || '%' OR u.email ILIKE '%' || $2 || '%')
            ORDER BY p.participant_id""", workspace_id, search)
    return [dict(r) for r in rows]


async def participant(db: Db, workspace_id: int, participant_id: int) -> Row | None:
    return one(await db.fetchrow(f"SELECT {_PARTICIPANT} WHERE p.workspace_id = $1 AND p.participant_id = $2",
                                  workspace_id, participant_id))


async def participant_of(db: Db, workspace_id: int, user_id: int) -> Row | None:
    return one(await db.fetchrow(f"SELECT {_PARTICIPANT} WHERE p.workspace_id = $1 AND p.user_id = $2",
                                  workspace_id, user_id))
