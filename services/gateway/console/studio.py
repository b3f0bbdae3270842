"""One studio's page: live status and progress, active connections, Connect, start/stop/extend, history.

The live parts are htmx fragments that re-fetch themselves (``hx-trigger="every 2s"``) from the same API the REST
clients use; an action answers with the fresh status fragment, so the page never reloads."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.gateway.console.api import Api, ApiError
from services.gateway.console.session import who
from services.gateway.console.web import PREFIX, SameOrigin, SignedApi, render

router = APIRouter(prefix=f"{PREFIX}/studios/{{sid}}", include_in_schema=False)
Action = Literal["start", "stop", "extend"]
#: events that say nothing a person did or decided: many per start, or one per minute of use
QUIET = frozenset({"StudioProgressRecorded", "StudioConnectionActive", "StudioSessionBusy"})
_CALLS: dict[str, tuple[str, str]] = {"start": ("PUT", "/start"), "stop": ("PUT", "/stop"),
                                      "extend": ("POST", "/lifespan")}


async def _studio(api: Api, sid: str, workspace_id: int | None) -> dict[str, Any]:
    return await api.get(f"/studios/{sid}", workspaceId=workspace_id)  # type: ignore[no-any-return]


@router.get("")
async def studio_page(request: Request, api: SignedApi, sid: str, workspaceId: int | None = None) -> Response:
    studio = await _studio(api, sid, workspaceId)
    me = await who(api, studio.get("workspaceId", workspaceId))
    return render(request, "studio.html", {"me": me, "s": studio, "workspace_id": me.workspace_id})


@router.get("/status")
async def status_fragment(request: Request, api: SignedApi, sid: str, workspaceId: int | None = None) -> Response:
    studio = await _studio(api, sid, workspaceId)
    return render(request, "_status.html", {"s": studio, "workspace_id": workspaceId, "notice": None})


@router.post("/actions/{action}", dependencies=[SameOrigin])
async def act(request: Request, api: SignedApi, sid: str, action: Action, workspaceId: int | None = None) -> Response:
    method, suffix = _CALLS[action]
    try:
        await api.call(method, f"/studios/{sid}{suffix}", {"workspaceId": workspaceId})
        notice = {"start": "Start requested", "stop": "Stop requested", "extend": "Lifespan extended"}[action]
    except ApiError as e:  # e.g. 409 when it already stopped: said in place, the panel keeps polling
        if e.status in (401, 404):
            raise
        notice = e.message
    studio = await _studio(api, sid, workspaceId)
    return render(request, "_status.html", {"s": studio, "workspace_id": workspaceId, "notice": notice})


@router.get("/history")
async def history_fragment(request: Request, api: SignedApi, sid: str, workspaceId: int | None = None) -> Response:
    """Who did what and why it stopped, newest first (the API answers oldest first)."""
    history = await api.get(f"/studios/{sid}/history", workspaceId=workspaceId)
    shown = [e for e in reversed(history["events"]) if e["eventType"] not in QUIET]
    return render(request, "_history.html", {"events": shown, "hidden": len(history["events"]) - len(shown),
                                             "sid": sid, "workspace_id": workspaceId, "names": await _names(api)})


async def _names(api: Api) -> dict[str, str]:
    """Actors are user ids in events; the signed-in user is named, others shown by id (no user directory API)."""
    me = (await api.get("/user-info"))["user"]
    return {str(me["id"]): str(me["userName"])}
