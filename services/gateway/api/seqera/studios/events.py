"""A studio's change feed (server-sent events) and its audit history.

``GET /studios/{sessionId}/events``: one SSE message per stored event of the studio, oldest first, then new ones
as they are appended (the stream is polled every ``sse_poll`` seconds). Each message has ``id:`` = the event's
stream position (send it back as ``Last-Event-ID`` to resume), ``event:`` = the event type, and ``data:`` = JSON
``{"event": <event data>, "studio": <DataStudioDto after the event>}``. ``follow=false`` ends once caught up; the
feed also ends after ``StudioDeleted`` or when the client disconnects.

``GET /studios/{sessionId}/history``: the same events as an audit list with actor and reason, paginated.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse

from libs.contracts import studio as ev
from libs.contracts.events import registry
from libs.contracts.studio_state import INITIAL, State, evolve
from libs.eventstore import RecordedEvent
from services.gateway.access.auth import CurrentUser
from services.gateway.api.seqera.studios import access
from services.gateway.api.seqera.studios.context import ContextDep, StudiosContext
from services.gateway.api.seqera.studios.reads import dto_of
from services.gateway.api.seqera.studios.requests import Max, Offset, WorkspaceId

router = APIRouter(tags=["studios"])
KEEPALIVE = 15.0


def sse(event: str, data: dict[str, Any], ident: int | None = None) -> str:
    head = f"id: {ident}\n" if ident is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, default=str)}\n\n"


async def _feed(request: Request, ctx: StudiosContext, session_id: str, resume_after: int,
                follow: bool) -> AsyncIterator[str]:
    stream = ev.stream_name(session_id)
    state: State = INITIAL
    position = 0
    idle = 0.0
    while True:
        records = await ctx.store.read_stream(stream, position)
        for r in records:
            state = evolve(state, registry.load(r.event_type, r.schema_version, r.data))
            position = r.stream_position + 1
            if r.stream_position > resume_after:
                dto = await dto_of(request, ctx, state)
                yield sse(r.event_type, {"event": r.data, "studio": dto.model_dump(mode="json", by_alias=True)},
                          r.stream_position)
            if r.event_type == ev.StudioDeleted.event_type:
                return
        if not follow or await request.is_disconnected():
            return
        idle = 0.0 if records else idle + ctx.sse_poll
        if idle >= KEEPALIVE:
            idle = 0.0
            yield ": keepalive\n\n"
        await asyncio.sleep(ctx.sse_poll)


@router.get("/studios/{session_id}/events")
async def studio_events(request: Request, session_id: str, ctx: ContextDep, caller: CurrentUser,
                        workspace_id: WorkspaceId = None, follow: bool = True,
                        last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None
                        ) -> StreamingResponse:
    await access.studio(ctx.store.pool, caller, session_id, workspace_id, "studio:read")
    resume = int(last_event_id) if last_event_id and last_event_id.isdigit() else -1
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(_feed(request, ctx, session_id, resume, follow), media_type="text/event-stream",
                             headers=headers)


def _entry(r: RecordedEvent) -> dict[str, Any]:
    data = dict(r.data)
    return {
        "position": r.global_position, "streamPosition": r.stream_position, "eventId": str(r.event_id),
        "eventType": r.event_type, "at": data.pop("at", None) or r.recorded_at.isoformat(),
        "actor": data.pop("actor", None) or r.metadata.get("actor"), "reason": data.pop("reason", None),
        "source": r.metadata.get("source"), "recordedAt": r.recorded_at.isoformat(), "data": data,
    }


@router.get("/studios/{session_id}/history")
async def studio_history(session_id: str, ctx: ContextDep, caller: CurrentUser, workspace_id: WorkspaceId = None,
                         max: Max = None,
                         offset: Offset = None) -> dict[str, Any]:
    """``{"events": [{eventType, at, actor, reason, data, ...}], "totalSize": n}``, oldest first."""
    await access.studio(ctx.store.pool, caller, session_id, workspace_id, "studio:read")
    stream = ev.stream_name(session_id)
    total = await ctx.store.stream_version(stream) + 1
    limit = max if max is not None else 1_000_000
    records = await ctx.store.read_stream(stream, offset or 0, limit) if limit else []
    return {"events": [_entry(r) for r in records], "totalSize": total}
