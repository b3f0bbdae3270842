"""The templates page: the registry (every template, its version and support status), a build of one, and a
build's page with its status and log (the native API: ``/templates``, ``/templates/{id}/build``, ``/builds/{id}``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.gateway.console.session import who
from services.gateway.console.web import PREFIX, SameOrigin, SignedApi, redirect, render

router = APIRouter(prefix=PREFIX, include_in_schema=False)
FINISHED = frozenset({"succeeded", "failed", "cancelled"})


@router.get("/templates")
async def templates_page(request: Request, api: SignedApi, workspaceId: int | None = None) -> Response:
    me = await who(api, workspaceId)
    listed = await api.get("/templates", max=200)
    return render(request, "templates.html", {"me": me, "templates": listed["templates"],
                                              "total": listed["totalSize"], "workspace_id": me.workspace_id})


@router.post("/templates/{template_id}/build", dependencies=[SameOrigin])
async def build(request: Request, api: SignedApi, template_id: str, workspaceId: int | None = None) -> Response:
    op = await api.call("POST", f"/templates/{template_id}/build")
    return redirect(request, f"{PREFIX}/builds/{op['buildId']}?workspaceId={workspaceId or ''}")


@router.get("/builds/{build_id}")
async def build_page(request: Request, api: SignedApi, build_id: str, workspaceId: int | None = None) -> Response:
    me = await who(api, workspaceId)
    return render(request, "build.html", {"me": me, "b": await api.get(f"/builds/{build_id}"),
                                          "workspace_id": me.workspace_id})


@router.get("/builds/{build_id}/panel")
async def build_panel(request: Request, api: SignedApi, build_id: str) -> Response:
    b = await api.get(f"/builds/{build_id}")
    log = await api.get(f"/builds/{build_id}/logs", max=2000)
    return render(request, "_build_panel.html", {"b": b, "lines": log.get("lines", []),
                                                 "finished": b["status"] in FINISHED})
