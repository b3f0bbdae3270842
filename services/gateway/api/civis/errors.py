"""Civis's error shape on every ``/civis`` route: ``{"error", "errorDescription", "code"}`` (``code`` is the HTTP
status, as Civis answers), and ``WWW-Authenticate`` on a 401 (the real client reads that header on every 401 and
fails with a ``KeyError`` without it).

``CivisRoute`` catches what a route or its dependencies raise — typed ``StudiosError``\\ s, FastAPI's validation
errors (a 400 here, not FastAPI's 422), HTTP exceptions and PostgreSQL data errors — so the app-wide (Seqera-shaped)
handlers never see a Civis request.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import asyncpg
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from libs.contracts.errors import StudiosError

REALM = 'Basic realm="Civis API", charset="UTF-8"'
_NAMES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
          409: "conflict", 422: "unprocessable_entity", 503: "service_unavailable"}


def civis_error(status: int, description: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": _NAMES.get(status, "error"), "errorDescription": description, "code": status}
    out = dict(headers or {})
    if status == 401:
        out.setdefault("WWW-Authenticate", REALM)
    return JSONResponse(body, status_code=status, headers=out)


def _validation(e: RequestValidationError) -> str:
    parts = []
    for err in e.errors():
        loc = ".".join(str(x) for x in err.get("loc", ()) if x not in ("body", "query", "path"))
        parts.append(f"{loc}: {err.get('msg')}" if loc else str(err.get("msg")))
    return "Invalid request: " + "; ".join(parts)


def as_civis(e: Exception) -> JSONResponse | None:
    """The Civis answer for an exception a route may raise; None: not ours to answer (a bug: let it be a 500)."""
    if isinstance(e, StudiosError):
        return civis_error(e.status, e.detail)
    if isinstance(e, RequestValidationError):
        return civis_error(400, _validation(e))
    if isinstance(e, HTTPException):
        return civis_error(e.status_code, str(e.detail), dict(e.headers or {}))
    if isinstance(e, asyncpg.DataError):
        return civis_error(400, f"Invalid request: {e}")
    return None


class CivisRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def civis_handler(request: Request) -> Response:
            try:
                return await handle(request)
            except Exception as e:  # answered in Civis's shape, or raised again
                answer = as_civis(e)
                if answer is None:
                    raise
                return answer

        return civis_handler
