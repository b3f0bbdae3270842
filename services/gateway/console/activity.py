"""A studio's logs (the last lines of a run, followed by re-fetching while "follow" is on, filtered by stream and
source) and its checkpoints (list, rename, start a new studio from one)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from services.gateway.console.api import ApiError
from services.gateway.console.web import PREFIX, SameOrigin, SignedApi, render

router = APIRouter(prefix=f"{PREFIX}/studios/{{sid}}", include_in_schema=False)
LINES = 500


@router.get("/logs")
async def logs_fragment(request: Request, api: SignedApi, sid: str, workspaceId: int | None = None,
                        stream: Literal["", "stdout", "stderr"] = "", source: Literal["", "user", "system"] = "",
                        follow: str = "") -> Response:
    lines = await api.get(f"/studios/{sid}/logs", workspaceId=workspaceId, stream=stream, source=source,
                          limit=LINES)
    return render(request, "_logs.html", {"lines": lines, "sid": sid, "workspace_id": workspaceId,
                                          "stream": stream, "source": source, "follow": bool(follow)})


@router.get("/checkpoints")
async def checkpoints_fragment(request: Request, api: SignedApi, sid: str, workspaceId: int | None = None,
                               notice: str | None = None) -> Response:
    listed = await api.get(f"/studios/{sid}/checkpoints", workspaceId=workspaceId, max=50)
    return render(request, "_checkpoints.html", {"checkpoints": listed["checkpoints"], "total": listed["totalSize"],
                                                 "sid": sid, "workspace_id": workspaceId, "notice": notice})


@router.post("/checkpoints/{checkpoint_id}", dependencies=[SameOrigin])
async def rename_checkpoint(request: Request, api: SignedApi, sid: str, checkpoint_id: int,
                            name: Annotated[str, Form()], workspaceId: int | None = None) -> Response:
    try:
        await api.call("PUT", f"/studios/{sid}/checkpoints/{checkpoint_id}", {"workspaceId": workspaceId},
                       {"name": name})
        notice = f"Renamed to '{name}'"
    except ApiError as e:
        notice = e.message
    return await checkpoints_fragment(request, api, sid, workspaceId, notice)
