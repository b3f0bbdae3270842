"""``/api/logs/follow/?job_id=&team_name=``: a job's status and output over a WebSocket, as DataChain's client
reads them: ``{"job": {"status": S}}`` whenever the status changes, ``{"logs": [{id, message}]}`` as output
arrives (``id``: the line's JetStream sequence times ``PACK_LINES`` plus its place in its message, growing, so
a reconnecting client skips what it printed), and ``{"type": "ping"}`` while nothing happens. It closes once the
job is final and its output's ``final`` line was sent (or, for a job that never ran, ``QUIET`` seconds after it
ended); ``no_follow=true`` sends the status and closes. Lines are read from JetStream ``LOGS`` (the job's subject,
from its first message).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import nats.errors
from fastapi import APIRouter, WebSocket
from nats.js.api import ConsumerConfig, DeliverPolicy
from starlette.websockets import WebSocketDisconnect

from libs.contracts.errors import StudiosError
from libs.logs.lines import PACK_LINES, LogLine
from services.gateway.api.datachain.auth import team
from services.gateway.api.datachain.context import DataChainContext
from services.gateway.read import jobs as q

router = APIRouter()
QUIET = 2.0  # after a final status, how long to wait for output that may still be on its way
PING = 10.0
BATCH = 500


@router.websocket("/logs/follow/")
async def follow(ws: WebSocket) -> None:
    ctx: DataChainContext = ws.app.state.datachain
    pool = ws.app.state.store.pool
    job_id = ws.query_params.get("job_id", "")
    try:
        t = await team(pool, ws.headers, ws.query_params.get("team_name"), "job:read")
        state = await q.job(pool, job_id)
    except StudiosError:
        await ws.close(code=1008)  # before accept: the handshake is refused with 403
        return
    if state is None or state.workspace_id != str(t.workspace_id):
        await ws.close(code=1008)
        return
    await ws.accept()
    with contextlib.suppress(WebSocketDisconnect):
        if ws.query_params.get("no_follow") == "true":
            await ws.send_text(json.dumps({"job": {"status": state.status}}))
        else:
            await _follow(ws, ctx, pool, job_id)
        await ws.close()


async def _follow(ws: WebSocket, ctx: DataChainContext, pool: Any, job_id: str) -> None:
    js = ctx.nc.jetstream()
    sub = await js.subscribe(f"{ctx.topology.logs_prefix}.job.{job_id}", stream=ctx.topology.logs_stream,
                             ordered_consumer=True, config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL))
    loop = asyncio.get_running_loop()
    status, ended_at, final_line, pinged = None, None, False, loop.time()
    try:
        while True:
            state = await q.job(pool, job_id)
            if state is not None and state.status != status:
                status = state.status
                await ws.send_text(json.dumps({"job": {"status": status}}))
            if state is not None and state.final and ended_at is None:
                ended_at = loop.time()
            lines, final_line = await _drain(sub, final_line)
            if lines:
                await ws.send_text(json.dumps({"logs": lines}))
            elif loop.time() - pinged >= PING:
                pinged = loop.time()
                await ws.send_text(json.dumps({"type": "ping"}))
            if ended_at is not None and (final_line or (not lines and loop.time() - ended_at >= QUIET)):
                return
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()


async def _drain(sub: Any, final_line: bool) -> tuple[list[dict[str, Any]], bool]:
    """What arrived, waiting up to half a second for the first message."""
    out: list[dict[str, Any]] = []
    timeout = 0.5
    while len(out) < BATCH:
        try:
            msg = await sub.next_msg(timeout=timeout)
        except nats.errors.TimeoutError:
            break
        timeout = 0.01
        try:
            lines = LogLine.from_message(msg.data)
        except (ValueError, KeyError, TypeError):
            continue
        seq = msg.metadata.sequence.stream
        for i, line in enumerate(lines):
            out.append({"id": seq * PACK_LINES + i, "message": line.message})
            final_line = final_line or line.final
    return out, final_line
