"""A studio's log lines: ``GET /studios/{sessionId}/logs`` (JSON, or ``follow=true`` as server-sent events) and the
same path as a WebSocket. Same authentication and privacy as the studio itself (``studio:read``, 404 hides).

JSON: ``[{id, message, stream, source, createdAt}]`` oldest first (Civis' shape; ``id`` is the line's cursor for
``after=``). Without ``start_at``/``after``: the last ``limit`` lines of the run (before ``end_at``); with either:
the first ``limit`` lines from there. ``run`` defaults to the latest run stored. ``X-Logs-Run`` names the run read.

Follow (SSE ``event: log``, ``id:`` the cursor, then ``event: end``; a WebSocket sends each line as a JSON text
message, then ``{"end": true, "run": n}``, and closes with 1000): replay, then the live tail, until the run stops.
Without ``run``, a studio that is starting or running is followed in its current run, and one that is not in its
next run (a follower connected before a start sees all of it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, WebSocket
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.websockets import WebSocketDisconnect

from libs.contracts.errors import InvalidInput, StudiosError, Unauthenticated, Unavailable
from libs.contracts.logs import MAX_LIMIT, QueryLogs, parse_cursor
from libs.contracts.studio import StudioStatus
from libs.contracts.studio_state import State
from services.gateway.access import auth
from services.gateway.access.auth import CurrentUser, Principal
from services.gateway.api.seqera.studios import access
from services.gateway.api.seqera.studios.context import ContextDep, StudiosContext
from services.gateway.api.seqera.studios.requests import WorkspaceId
from services.gateway.logs import LogsClient
from services.gateway.read import studios as queries

router = APIRouter(tags=["studios"])
LIVE = {StudioStatus.STARTING, StudioStatus.RUNNING, StudioStatus.STOPPING, StudioStatus.BUILDING}
KEEPALIVE = 15.0

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
StreamName = Annotated[Literal["stdout", "stderr"] | None, Query()]
SourceName = Annotated[Literal["user", "system"] | None, Query()]


def _client(app_state: Any) -> LogsClient:
    client = getattr(app_state, "logs", None)
    if client is None:
        raise Unavailable("the logs service is not connected")
    return client  # type: ignore[no-any-return]


def _query(session_id: str, start_at: datetime | None, end_at: datetime | None, limit: int, run: int | None,
           stream: str | None, source: str | None, after: str | None) -> QueryLogs:
    for name, value in (("start_at", start_at), ("end_at", end_at)):
        if value is not None and value.tzinfo is None:
            raise InvalidInput(f"{name} needs a time zone (e.g. 2024-01-01T00:00:00Z)", field=name)
    if start_at and end_at and end_at < start_at:
        raise InvalidInput("end_at is before start_at", field="end_at")
    if after is not None:
        try:
            parse_cursor(after)
        except ValueError as e:
            raise InvalidInput(str(e), field="after") from None
    return QueryLogs(id=session_id, start_at=start_at, end_at=end_at, limit=limit, run=run,
                     stream=stream, source=source, after=after)  # type: ignore[arg-type]


def followed_run(state: State, run: int | None) -> int:
    """The run a follow without ``run`` means: the current one while it lives, else the next one."""
    if run is not None:
        return run
    return state.run if state.status in LIVE else state.run + 1


def _run_over(ctx: StudiosContext, session_id: str) -> Any:
    async def over(run: int) -> bool:
        s = await queries.studio(ctx.store.pool, session_id)
        return s is None or s.run > run or (s.run == run and s.status not in LIVE)
    return over


def _public(line: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in line.items() if k != "final"}


@router.get("/studios/{session_id}/logs", response_model=None)
async def studio_logs(request: Request, session_id: str, ctx: ContextDep, caller: CurrentUser,
                      workspace_id: WorkspaceId = None, start_at: datetime | None = None,
                      end_at: datetime | None = None, limit: Limit = MAX_LIMIT, run: Annotated[int | None,
                      Query(ge=0)] = None, stream: StreamName = None, source: SourceName = None,
                      after: str | None = None, follow: bool = False) -> JSONResponse | StreamingResponse:
    state = await access.studio(ctx.store.pool, caller, session_id, workspace_id, "studio:read")
    q = _query(session_id, start_at, end_at, limit, run, stream, source, after)
    client = _client(request.app.state)
    if follow:
        target = followed_run(state, run)
        return StreamingResponse(_sse(request, client.follow(q, target, _run_over(ctx, session_id)), target,
                                      getattr(client, "keepalive", KEEPALIVE)),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no",
                                          "X-Logs-Run": str(target)})
    result = await client.query(q)
    headers = {"X-Logs-Run": str(result["run"])} if result["run"] is not None else {}
    return JSONResponse([_public(x) for x in result["lines"]], headers=headers)


async def _sse(request: Request, lines: AsyncIterator[dict[str, Any]], run: int,
               keepalive: float = KEEPALIVE) -> AsyncIterator[str]:
    """The follow's lines as events; while none comes for ``keepalive`` seconds, a comment line (proxies cut an
    idle response). The pending read is waited on again, never cancelled: cancelling would end the follow."""
    it = aiter(lines)
    try:
        while True:
            pending = asyncio.ensure_future(anext(it))
            while not (await asyncio.wait({pending}, timeout=keepalive))[0]:
                yield ": keepalive\n\n"
                if await request.is_disconnected():
                    pending.cancel()
                    return
            try:
                line = pending.result()
            except StopAsyncIteration:
                break
            yield f"id: {line['id']}\nevent: log\ndata: {json.dumps(_public(line))}\n\n"
            if await request.is_disconnected():
                return
        yield f"event: end\ndata: {json.dumps({'run': run})}\n\n"
    finally:
        with contextlib.suppress(Exception):
            await it.aclose()  # type: ignore[attr-defined]


@router.websocket("/studios/{session_id}/logs")
async def studio_logs_ws(websocket: WebSocket, session_id: str, workspace_id: WorkspaceId = None,
                         start_at: datetime | None = None, end_at: datetime | None = None, limit: Limit = MAX_LIMIT,
                         run: Annotated[int | None, Query(ge=0)] = None, stream: StreamName = None,
                         source: SourceName = None, after: str | None = None) -> None:
    ctx: StudiosContext = websocket.app.state.studios
    try:
        caller = await _ws_caller(websocket, ctx)
        state = await access.studio(ctx.store.pool, caller, session_id, workspace_id, "studio:read")
        q = _query(session_id, start_at, end_at, limit, run, stream, source, after)
        client = _client(websocket.app.state)
    except StudiosError as e:  # before accepting: the handshake is refused with the error's status
        await websocket.close(code=4000 + e.status, reason=e.detail[:120])
        return
    await websocket.accept()
    target = followed_run(state, run)
    try:
        async for line in client.follow(q, target, _run_over(ctx, session_id)):
            await websocket.send_text(json.dumps(_public(line)))
        await websocket.send_text(json.dumps({"end": True, "run": target}))
        await websocket.close(code=1000)
    except WebSocketDisconnect:
        return


async def _ws_caller(websocket: WebSocket, ctx: StudiosContext) -> Principal:
    """A bearer token in ``Authorization`` or, for browsers (which cannot set it), ``access_token``."""
    header = websocket.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else websocket.query_params.get("access_token", "")
    if not token:
        raise Unauthenticated("Missing bearer token: send 'Authorization: Bearer <token>'")
    return await auth.authenticate(ctx.store.pool, token)
