"""RFC 9457 problem details for the native dialect: every error its routes raise (a typed ``StudiosError``, bad
input, an unknown route parameter) answers ``application/problem+json`` with ``type``, ``title``, ``status``,
``detail`` and our stable ``code``; never a 500 for bad input. The app-wide handlers keep Seqera's shape for the
other dialects, so the native routes catch their own errors (``ProblemRoute``)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from libs.contracts.errors import StudiosError

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://studios.dev/problems/"  # a stable identifier per code; it need not resolve


def problem(status: int, title: str, detail: str, code: str, **extra: Any) -> JSONResponse:
    body = {"type": f"{TYPE_BASE}{code}", "title": title, "status": status, "detail": detail, "code": code, **extra}
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE)


def from_error(e: StudiosError) -> JSONResponse:
    return problem(e.status, e.title, e.detail, e.code, **e.extra)


def from_validation(e: RequestValidationError) -> JSONResponse:
    errors = [{"loc": [str(x) for x in err.get("loc", ())], "msg": str(err.get("msg"))} for err in e.errors()]
    detail = "; ".join(f"{'.'.join(x['loc'][1:]) or x['loc'][0]}: {x['msg']}" for x in errors if x["loc"])
    return problem(400, "Invalid input", detail or "the request does not validate", "invalid", errors=errors)


class ProblemRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handle(request)
            except StudiosError as e:
                return from_error(e)
            except RequestValidationError as e:
                return from_validation(e)

        return route
