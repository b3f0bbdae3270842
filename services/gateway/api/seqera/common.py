"""What every Seqera-dialect router shares: error bodies in Seqera's ``ErrorResponse`` shape
(``{"message": ...}``), read-your-writes, the clock."""

from __future__ import annotations

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from libs.contracts.errors import StudiosError, Unavailable
from libs.platform.clock import now as now  # the one clock, re-exported for the dialect's routers
from services.gateway.commands import TraceRequests
from services.gateway.read.projections.base import wait_for_position
from services.gateway.read.projections.identity import IDENTITY


async def settle(pool: asyncpg.Pool, position: int | None) -> None:
    """Wait until the identity read model shows a write; 503 if it is stuck (the write itself is kept)."""
    if not await wait_for_position(pool, IDENTITY, position):
        raise Unavailable("The change was saved but the read model is behind; retry the read shortly")


def _message(e: RequestValidationError) -> str:
    parts = []
    for err in e.errors():
        loc = ".".join(str(x) for x in err.get("loc", ()) if x != "body")
        parts.append(f"{loc}: {err.get('msg')}" if loc else str(err.get("msg")))
    return "Bad request: " + "; ".join(parts)


def install_request_trace(app: FastAPI) -> None:
    """Every request's correlation id and ``traceparent`` reach the events its writes append (before start)."""
    app.add_middleware(TraceRequests)


def install_error_handlers(app: FastAPI) -> None:
    """Typed errors keep their status; bad input is a 400 (Seqera's, not FastAPI's 422); never a 500 for it."""

    async def studios_error(_: Request, e: Exception) -> JSONResponse:
        assert isinstance(e, StudiosError)
        return JSONResponse({"message": e.detail}, status_code=e.status)

    async def invalid(_: Request, e: Exception) -> JSONResponse:
        assert isinstance(e, RequestValidationError)
        return JSONResponse({"message": _message(e)}, status_code=400)

    async def http_error(_: Request, e: Exception) -> JSONResponse:
        assert isinstance(e, HTTPException)
        return JSONResponse({"message": str(e.detail)}, status_code=e.status_code, headers=e.headers)

    async def data_error(_: Request, e: Exception) -> JSONResponse:
        return JSONResponse({"message": f"Bad request: {e}"}, status_code=400)

    app.add_exception_handler(StudiosError, studios_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(asyncpg.DataError, data_error)
