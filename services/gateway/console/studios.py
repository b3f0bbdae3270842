"""The studios list (search keywords, pagination, live badges) and the create form (name checked as you type)."""

from __future__ import annotations

import shlex
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from services.gateway.console.api import Api, ApiError
from services.gateway.console.session import who
from services.gateway.console.web import PREFIX, SameOrigin, SignedApi, redirect, render

router = APIRouter(prefix=PREFIX, include_in_schema=False)
PAGE = 20


async def _page(api: Api, workspace_id: int | None, search: str | None, offset: int) -> dict[str, Any]:
    try:
        listed = await api.get("/studios", workspaceId=workspace_id, search=search, max=PAGE, offset=offset)
        error = None
    except ApiError as e:
        if e.status != 400:
            raise
        listed, error = {"studios": [], "totalSize": 0}, e.message  # a search the API cannot parse
    total = int(listed["totalSize"])
    return {"studios": listed["studios"], "total": total, "offset": offset, "search": search or "",
            "page_size": PAGE, "prev": max(offset - PAGE, 0) if offset > 0 else None,
            "next": offset + PAGE if offset + PAGE < total else None, "workspace_id": workspace_id, "error": error}


@router.get("/")
async def studios_page(request: Request, api: SignedApi, workspaceId: int | None = None,
                       search: str | None = None, offset: int = 0) -> Response:
    me = await who(api, workspaceId)
    page = await _page(api, me.workspace_id, search, max(offset, 0))
    return render(request, "studios.html", {"me": me, **page})


@router.get("/studios/table")
async def studios_table(request: Request, api: SignedApi, workspaceId: int | None = None,
                        search: str | None = None, offset: int = 0) -> Response:
    page = await _page(api, workspaceId, search, max(offset, 0))
    return render(request, "_studios_table.html", page)


async def _form_context(api: Api, workspace_id: int | None) -> dict[str, Any]:
    templates = (await api.get("/studios/templates", workspaceId=workspace_id))["templates"]
    envs = (await api.get("/compute-envs", workspaceId=workspace_id))["computeEnvs"]
    links = (await api.get("/data-links", workspaceId=workspace_id))["dataLinks"]
    return {"templates": templates, "compute_envs": envs, "data_links": links}


@router.get("/studios/new")
async def new_studio_page(request: Request, api: SignedApi, workspaceId: int | None = None,
                          checkpoint: int | None = None, source: str | None = None) -> Response:
    me = await who(api, workspaceId)
    context = await _form_context(api, me.workspace_id)
    return render(request, "new.html", {"me": me, **context, "error": None, "values": {},
                                        "checkpoint": checkpoint, "source": source})


@router.get("/studios/name-check")
async def name_check(request: Request, api: SignedApi, workspaceId: int, name: str = "") -> Response:
    """Validated as the user types (``hx-trigger="input changed delay:300ms"``) by the API's own rule."""
    if not name:
        return render(request, "_name_check.html", {"ok": None, "message": ""})
    try:
        await api.call("GET", "/studios/validate", {"workspaceId": workspaceId, "name": name})
    except ApiError as e:
        return render(request, "_name_check.html", {"ok": False, "message": e.message})
    return render(request, "_name_check.html", {"ok": True, "message": f"'{name}' is available"})


def _number(value: str | None) -> int | None:
    return int(value) if value not in (None, "") else None  # type: ignore[arg-type]


def create_body(form: dict[str, Any], links: list[str]) -> dict[str, Any]:
    """The Seqera create request from the form's fields (empty fields are left to the API's defaults)."""
    configuration: dict[str, Any] = {k: _number(form.get(k)) for k in ("cpu", "memory", "gpu", "lifespanHours")}
    if form.get("command"):
        configuration["command"] = shlex.split(form["command"])
    if links:
        configuration["mountData"] = links
    body: dict[str, Any] = {"name": form.get("name", ""), "description": form.get("description") or None,
                            "computeEnvId": form.get("computeEnvId", ""),
                            "dataStudioToolUrl": form.get("template") or None,
                            "configuration": {k: v for k, v in configuration.items() if v is not None}}
    if form.get("checkpoint"):
        body["initialCheckpointId"] = int(form["checkpoint"])
    return body


@router.post("/studios", dependencies=[SameOrigin])
async def create_studio(request: Request, api: SignedApi, workspaceId: Annotated[int, Form()],
                        dataLinks: Annotated[list[str] | None, Form()] = None) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    try:
        body = create_body(form, dataLinks or [])
        created = await api.call("POST", "/studios", {"workspaceId": workspaceId,
                                                      "autoStart": "true" if form.get("autoStart") else "false"}, body)
    except (ApiError, ValueError) as e:
        me = await who(api, workspaceId)
        context = await _form_context(api, workspaceId)
        message = e.message if isinstance(e, ApiError) else f"Check the numbers and the command: {e}"
        return render(request, "new.html", {"me": me, **context, "error": message, "values": form,
                                            "checkpoint": form.get("checkpoint"), "source": form.get("source")},
                      status=200 if request.headers.get("hx-request") else 400)
    sid = created["studio"]["sessionId"]
    return redirect(request, f"{PREFIX}/studios/{sid}?workspaceId={workspaceId}")
