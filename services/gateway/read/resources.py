"""Plain SQL reads of compute environments, data links and labels, in Seqera's field names."""

from __future__ import annotations

from services.gateway.read import Db
from services.gateway.read.identity import Row, one

# The custom-commands flag is kept in its own column and shown inside a local config, where clients send it.
_CONFIG = """CASE WHEN c.platform = 'local-platform'
  THEN c.config || jsonb_build_object('allowCustomCommands', c.allow_custom_commands) ELSE c.config END
  || jsonb_build_object('discriminator', replace(c.platform, '-platform', ''))"""

_CE = f"""c.id, c.name, c.platform, {_CONFIG} AS config, c.description, c.credentials_id AS "credentialsId",
  c.status, c.message, c.deleted, false AS primary, w.org_id AS "orgId", c.workspace_id AS "workspaceId",
  c.date_created AS "dateCreated", c.last_updated AS "lastUpdated", NULL::timestamptz AS "lastUsed",
  c.allow_custom_commands AS "allowCustomCommands", '[]'::jsonb AS labels
  FROM read.compute_envs c JOIN read.workspaces w ON w.id = c.workspace_id"""


async def compute_envs(db: Db, workspace_id: int, status: str | None = None) -> list[Row]:
    rows = await db.fetch(
        """SELECT c.id, c.name, c.platform, c.status, c.message, NULL::timestamptz AS "lastUsed",
                  false AS primary, w.name AS "workspaceName", w.visibility, c.config->>'workDir' AS "workDir",
                  c.credentials_id AS "credentialsId", NULL::text AS region
             FROM read.compute_envs c JOIN read.workspaces w ON w.id = c.workspace_id
            WHERE c.workspace_id = $1 AND NOT c.deleted AND ($2::text IS NULL OR c.status = upper($2))
            ORDER BY c.date_created, c.id""", workspace_id, status)
    return [dict(r) for r in rows]


async def compute_env(db: Db, compute_env_id: str) -> Row | None:
    return one(await db.fetchrow(f"SELECT {_CE} WHERE c.id = $1 AND NOT c.deleted", compute_env_id))


async def compute_env_by_name(db: Db, workspace_id: int, name: str) -> Row | None:
    return one(await db.fetchrow(f"SELECT {_CE} WHERE c.workspace_id = $1 AND c.name = $2 AND NOT c.deleted",
                                  workspace_id, name))


_DL = """d.id, d.name, d.description, d.resource_ref AS "resourceRef", d.type, d.provider, NULL::text AS region,
  '[]'::jsonb AS credentials, d.public_accessible AS "publicAccessible", false AS hidden, d.status,
  NULL::text AS message, d.workspace_id AS "workspaceId", d.credentials_id AS "credentialsId",
  d.date_created AS "dateCreated" FROM read.data_links d"""


async def data_links(db: Db, workspace_id: int, search: str | None = None) -> list[Row]:
    rows = await db.fetch(
        f"""SELECT {_DL} WHERE d.workspace_id = $1 AND ($2::text IS NULL OR d.name ILIKE '%' || $2 || '%'
              OR d.provider ILIKE '%' || $2 || '%') ORDER BY d.date_created, d.id""", workspace_id, search)
    return [dict(r) for r in rows]


async def data_link(db: Db, data_link_id: str) -> Row | None:
    return one(await db.fetchrow(f"SELECT {_DL} WHERE d.id = $1", data_link_id))


_LABEL = """l.id, l.name, l.value, l.resource, l.is_default AS "isDefault", false AS "isDynamic",
  false AS "isInterpolated", l.date_created AS "dateCreated" FROM read.labels l"""


async def labels(db: Db, workspace_id: int, search: str | None = None, kind: str | None = None) -> list[Row]:
    rows = await db.fetch(
        f"""SELECT {_LABEL} WHERE l.workspace_id = $1 AND ($2::text IS NULL OR l.name ILIKE '%' || $2 || '%')
              AND ($3::text IS NULL OR $3 = 'all' OR l.resource = ($3 = 'resource'))
            ORDER BY l.name, l.id""", workspace_id, search, kind)
    return [dict(r) for r in rows]


async def label(db: Db, label_id: int) -> Row | None:
    return one(await db.fetchrow(f"SELECT {_LABEL} WHERE l.id = $1", label_id))
