"""Webhook endpoints of a workspace, for its admins (our extension beside Seqera's routes; docs/webhooks.md).

``GET/POST /workspaces/{id}/webhooks``, ``GET/PUT/DELETE …/{webhookId}``, ``GET …/{webhookId}/deliveries``,
``POST …/{webhookId}/deliveries/{deliveryId}/redeliver``. A registration answers the secret, once.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import Field

from libs.contracts.errors import NotFound, Unavailable
from libs.contracts.webhook import CATEGORY
from services.gateway.access.auth import WorkspaceAccess, WorkspacePermission
from services.gateway.access.deps import PoolDep, StoreDep
from services.gateway.api.seqera.common import now
from services.gateway.api.seqera.models import Body
from services.gateway.api.seqera.wire import SeqeraJSONResponse
from services.gateway.handlers import webhooks as h
from services.gateway.read import Db, consistency
from services.gateway.read import deliveries as dq
from services.gateway.read import webhooks as q
from services.gateway.webhooks.fanout import NAME
from services.gateway.webhooks.runtime import WebhookOptions

router = APIRouter(tags=["webhooks"], default_response_class=SeqeraJSONResponse)

Admin = Annotated[WorkspaceAccess, Depends(WorkspacePermission("workspace:admin"))]
STATUSES = ("pending", "succeeded", "failed")


class RegisterWebhookRequest(Body):
    url: str = Field(max_length=2048)
    event_types: list[str] = Field(default_factory=list)
    description: str | None = Field(None, max_length=1000)


class ChangeWebhookRequest(Body):
    url: str | None = Field(None, max_length=2048)
    event_types: list[str] | None = None
    description: str | None = Field(None, max_length=1000)
    enabled: bool | None = None


def _options(request: Request) -> WebhookOptions:
    options = getattr(request.app.state, "webhooks", None)
    return options if isinstance(options, WebhookOptions) else WebhookOptions()


Options = Annotated[WebhookOptions, Depends(_options)]


async def _settled(pool: PoolDep, position: int | None) -> None:
    if not await consistency.wait_for(pool, NAME, position, categories=[CATEGORY]):
        raise Unavailable("The change was saved but the webhooks are behind; retry the read shortly")


async def _endpoint(db: Db, workspace_id: int, webhook_id: str) -> dict[str, Any]:
    row = await q.endpoint(db, workspace_id, webhook_id)
    if row is None:
        raise NotFound(f"Webhook {webhook_id} not found")
    return row


@router.get("/workspaces/{workspaceId}/webhooks")
async def list_webhooks(access: Admin, pool: PoolDep) -> dict[str, Any]:
    rows = await q.endpoints(pool, access.workspace_id)
    return {"webhooks": rows, "totalSize": len(rows)}


@router.post("/workspaces/{workspaceId}/webhooks", status_code=201)
async def register_webhook(body: RegisterWebhookRequest, access: Admin, store: StoreDep,
                           options: Options) -> dict[str, Any]:
    webhook_id, secret, position = await h.register(
        store, workspace_id=access.workspace_id, url=body.url, event_types=body.event_types,
        description=body.description, actor=access.user.actor, now=now(), allow_private=options.allow_private,
        resolve=options.resolve)
    await _settled(store.pool, position)
    return {"id": webhook_id, "secret": secret,
            "webhook": await _endpoint(store.pool, access.workspace_id, webhook_id)}


@router.get("/workspaces/{workspaceId}/webhooks/{webhookId}")
async def describe_webhook(webhookId: str, access: Admin, pool: PoolDep) -> dict[str, Any]:
    return {"webhook": await _endpoint(pool, access.workspace_id, webhookId)}


@router.put("/workspaces/{workspaceId}/webhooks/{webhookId}")
async def change_webhook(webhookId: str, body: ChangeWebhookRequest, access: Admin, store: StoreDep,
                         options: Options) -> dict[str, Any]:
    await _endpoint(store.pool, access.workspace_id, webhookId)
    position = await h.change(store, webhook_id=webhookId, actor=access.user.actor, now=now(),
                              allow_private=options.allow_private, url=body.url, event_types=body.event_types,
                              description=body.description, enabled=body.enabled, resolve=options.resolve)
    await _settled(store.pool, position)
    return {"webhook": await _endpoint(store.pool, access.workspace_id, webhookId)}


@router.delete("/workspaces/{workspaceId}/webhooks/{webhookId}", status_code=204)
async def delete_webhook(webhookId: str, access: Admin, store: StoreDep) -> Response:
    await _endpoint(store.pool, access.workspace_id, webhookId)
    position = await h.delete(store, webhook_id=webhookId, actor=access.user.actor, now=now())
    await _settled(store.pool, position)
    return Response(status_code=204)


@router.get("/workspaces/{workspaceId}/webhooks/{webhookId}/deliveries")
async def list_deliveries(webhookId: str, access: Admin, pool: PoolDep,
                          status: Annotated[str | None, Query(pattern="^(pending|succeeded|failed)$")] = None,
                          max: Annotated[int, Query(ge=1, le=100)] = 50,
                          offset: Annotated[int, Query(ge=0)] = 0) -> dict[str, Any]:
    await _endpoint(pool, access.workspace_id, webhookId)
    rows, total = await dq.deliveries(pool, webhookId, status, max, offset)
    return {"deliveries": rows, "totalSize": total}


@router.post("/workspaces/{workspaceId}/webhooks/{webhookId}/deliveries/{deliveryId}/redeliver",
             status_code=202)
async def redeliver(webhookId: str, deliveryId: uuid.UUID, access: Admin, pool: PoolDep,
                    options: Options) -> dict[str, Any]:
    await _endpoint(pool, access.workspace_id, webhookId)
    if not await dq.redeliver(pool, webhookId, deliveryId, options.clock()):
        raise NotFound(f"Delivery {deliveryId} not found")
    return {"delivery": await dq.delivery(pool, webhookId, deliveryId)}
