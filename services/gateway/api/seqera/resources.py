"""Seqera's compute environment, data link and label routes, all in a workspace context (``?workspaceId``).

Without ``workspaceId`` Seqera answers the user's personal context; we have none, so lists are empty there and
creates are a 400.
"""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, Response

from libs.contracts.errors import NotFound
from services.gateway.access.auth import CurrentUser, Principal, WorkspaceAccess, WorkspacePermission, require
from services.gateway.access.credentials import CredentialsDep
from services.gateway.access.deps import PoolDep, StoreDep
from services.gateway.api.seqera.common import now, settle
from services.gateway.api.seqera.models import CreateComputeEnvRequest, CreateLabelRequest, DataLinkCreateRequest
from services.gateway.api.seqera.warm_pool import router as warm_pool_router
from services.gateway.api.seqera.wire import SeqeraJSONResponse, seqera_data_link
from services.gateway.handlers import resources as h
from services.gateway.read import resources as q
from services.gateway.read.browse import browse
from services.gateway.read.s3browse import browse_s3

router = APIRouter(tags=["compute-envs", "data-links", "labels"], default_response_class=SeqeraJSONResponse)
router.include_router(warm_pool_router)  # warmPool: our extension (docs/pools.md)


CanCreateComputeEnv = Annotated[WorkspaceAccess, Depends(WorkspacePermission("computeenv:create"))]
CanCreateDataLink = Annotated[WorkspaceAccess, Depends(WorkspacePermission("datalink:create"))]
CanCreateLabel = Annotated[WorkspaceAccess, Depends(WorkspacePermission("label:create"))]


async def _visible(pool: asyncpg.Pool, user: Principal, row: dict[str, Any] | None, what: str,
                   permission: str, workspace_id: int | None) -> dict[str, Any]:
    """The resource if it exists (in the given workspace, when one is given) and the caller may see it."""
    if row is None or (workspace_id is not None and row["workspaceId"] != workspace_id):
        raise NotFound(f"{what} not found")
    await require(pool, user, row["workspaceId"], permission)
    return row


# -- compute environments -------------------------------------------------------------------------------------

@router.get("/compute-envs")
async def list_compute_envs(user: CurrentUser, pool: PoolDep, workspaceId: int | None = None,
                            status: str | None = None) -> dict[str, Any]:
    if workspaceId is None:
        return {"computeEnvs": []}
    await require(pool, user, workspaceId, "computeenv:read")
    return {"computeEnvs": await q.compute_envs(pool, workspaceId, status)}


@router.post("/compute-envs")
async def create_compute_env(body: CreateComputeEnvRequest, access: CanCreateComputeEnv,
                             store: StoreDep) -> dict[str, Any]:
    ce = body.compute_env
    cid, position = await h.create_compute_env(
        store, workspace_id=access.workspace_id, name=ce.name, platform=ce.platform, config=ce.config,
        actor_is_admin=access.user.is_admin, actor=access.user.actor, now=now(), description=ce.description,
        credentials_id=ce.credentials_id)
    await settle(store.pool, position)
    return {"computeEnvId": cid}


@router.get("/compute-envs/{computeEnvId}")
async def describe_compute_env(computeEnvId: str, user: CurrentUser, pool: PoolDep,
                               workspaceId: int | None = None) -> dict[str, Any]:
    row = await _visible(pool, user, await q.compute_env(pool, computeEnvId), "Compute environment",
                         "computeenv:read", workspaceId)
    return {"computeEnv": row}


@router.delete("/compute-envs/{computeEnvId}", status_code=204)
async def delete_compute_env(computeEnvId: str, user: CurrentUser, store: StoreDep,
                             workspaceId: int | None = None) -> Response:
    row = await _visible(store.pool, user, await q.compute_env(store.pool, computeEnvId), "Compute environment",
                         "computeenv:delete", workspaceId)
    position = await h.delete_compute_env(store, compute_env_id=computeEnvId, workspace_id=row["workspaceId"],
                                          name=row["name"], actor=user.actor, now=now())
    await settle(store.pool, position)
    return Response(status_code=204)


# -- data links -----------------------------------------------------------------------------------------------

@router.get("/data-links")
async def list_data_links(user: CurrentUser, pool: PoolDep, workspaceId: int | None = None,
                          search: str | None = None) -> dict[str, Any]:
    if workspaceId is None:
        return {"dataLinks": [], "totalSize": 0}
    await require(pool, user, workspaceId, "datalink:read")
    rows = await q.data_links(pool, workspaceId, search)
    return {"dataLinks": [seqera_data_link(r) for r in rows], "totalSize": len(rows)}


@router.post("/data-links")
async def create_data_link(body: DataLinkCreateRequest, access: CanCreateDataLink, store: StoreDep,
                           credentials: CredentialsDep) -> dict[str, Any]:
    if body.credentials_id:  # Seqera's 404 "credentials not found"; the file is read again at every use
        credentials.get(body.credentials_id, access.workspace_id)
    did, position = await h.create_data_link(
        store, workspace_id=access.workspace_id, name=body.name, resource_ref=body.resource_ref,
        actor_is_admin=access.user.is_admin, actor=access.user.actor, now=now(), description=body.description,
        provider=body.provider, public_accessible=body.public_accessible, credentials_id=body.credentials_id)
    await settle(store.pool, position)
    row = await q.data_link(store.pool, did)
    return seqera_data_link(row) if row else {"id": did}


@router.get("/data-links/{dataLinkId}")
async def describe_data_link(dataLinkId: str, user: CurrentUser, pool: PoolDep,
                             workspaceId: int | None = None) -> dict[str, Any]:
    row = await _visible(pool, user, await q.data_link(pool, dataLinkId), "Data link", "datalink:read",
                         workspaceId)
    return {"dataLink": seqera_data_link(row)}


@router.get("/data-links/{dataLinkId}/browse")
@router.get("/data-links/{dataLinkId}/browse/{path:path}")
async def browse_data_link(dataLinkId: str, user: CurrentUser, pool: PoolDep, credentials: CredentialsDep,
                           path: str = "", workspaceId: int | None = None, search: str | None = None,
                           pageSize: int | None = None, nextPageToken: str | None = None,
                           credentialsId: str | None = None) -> dict[str, Any]:
    row = await _visible(pool, user, await q.data_link(pool, dataLinkId), "Data link", "datalink:browse",
                         workspaceId)
    if row["provider"] == "aws":  # s3:// (docs/data-links.md)
        return await browse_s3(row, credentials, path, search, pageSize, nextPageToken, credentialsId)
    return browse(row["resourceRef"], row["provider"], path, search, pageSize, nextPageToken)


# -- labels ---------------------------------------------------------------------------------------------------

@router.get("/labels")
async def list_labels(user: CurrentUser, pool: PoolDep, workspaceId: int | None = None,
                      search: str | None = None, type: str | None = None) -> dict[str, Any]:
    if workspaceId is None:
        return {"labels": [], "totalSize": 0}
    await require(pool, user, workspaceId, "label:read")
    rows = await q.labels(pool, workspaceId, search, type)
    return {"labels": rows, "totalSize": len(rows)}


@router.post("/labels")
async def create_label(body: CreateLabelRequest, access: CanCreateLabel,
                       store: StoreDep) -> dict[str, Any]:
    lid, position = await h.create_label(store, workspace_id=access.workspace_id, name=body.name,
                                         actor=access.user.actor, now=now(), value=body.value,
                                         resource=body.resource, is_default=body.is_default)
    await settle(store.pool, position)
    row = await q.label(store.pool, lid)
    if row is None:
        raise NotFound(f"Label {lid} not found")
    return {k: row[k] for k in ("id", "name", "value", "resource", "isDefault")}
