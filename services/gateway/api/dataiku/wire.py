"""Dataiku DSS's wire, as its Python client (``dataiku-api-client``) speaks it.

- Credentials: ``Authorization: Basic base64("<key>:")`` (the API key as the user name), ``X-DKU-APITicket: <key>``
  or ``Authorization: Bearer <key>``; the key is a Studios token.
- Errors: ``{errorType, message, detailedMessage}`` with the HTTP status; the client raises
  ``DataikuException("<errorType>: <detailedMessage>")``. A future whose task failed answers the same way, or the
  client would poll it forever.
- Bodies: JSON, sent without a ``Content-Type``; so the routes read the raw body (``json_body``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from libs.contracts.errors import InvalidInput, StudiosError, Unauthenticated
from services.gateway.access.auth import Principal, authenticate
from services.gateway.access.deps import PoolDep

#: Dataiku's error types are Java class names; clients match on them, so ours read like theirs.
ERROR_TYPES = {400: "java.lang.IllegalArgumentException", 401: "com.dataiku.dip.exceptions.UnauthorizedException",
               403: "com.dataiku.dip.exceptions.UnauthorizedException",
               404: "com.dataiku.dip.server.controllers.NotFoundException",
               409: "com.dataiku.dip.exceptions.CodedException", 422: "java.lang.IllegalArgumentException",
               503: "com.dataiku.dip.exceptions.ServiceUnavailableException"}
TASK_FAILED = "com.dataiku.dip.futures.FutureAbortedException"


def error(status: int, message: str, error_type: str | None = None, **extra: Any) -> JSONResponse:
    body = {"errorType": error_type or ERROR_TYPES.get(status, "com.dataiku.dip.exceptions.DKUException"),
            "message": message, "detailedMessage": message, **extra}
    headers = {"WWW-Authenticate": 'Basic realm="dss"'} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


def from_error(e: StudiosError) -> JSONResponse:
    return error(e.status, e.detail, TASK_FAILED if e.code == "task_failed" else None, code=e.code)


def from_validation(e: RequestValidationError) -> JSONResponse:
    parts = [f"{'.'.join(str(x) for x in err.get('loc', ())[1:]) or 'request'}: {err.get('msg')}"
             for err in e.errors()]
    return error(400, "; ".join(parts) or "the request does not validate", code="invalid")


class DataikuRoute(APIRoute):
    """Every error of the dialect's routes in Dataiku's shape (the app-wide handlers keep Seqera's)."""

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


def api_key(request: Request) -> str:
    """The key from whichever of Dataiku's three credentials the request carries."""
    ticket = request.headers.get("x-dku-apiticket", "").strip()
    if ticket:
        return ticket
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if scheme.lower() == "basic" and value.strip():
        try:
            user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthenticated("Malformed Basic credentials") from None
        if user or password:
            return user or password
    raise Unauthenticated("No API key: send it as the Basic user name, X-DKU-APITicket or a Bearer token")


async def dataiku_user(request: Request, pool: PoolDep) -> Principal:
    principal = await authenticate(pool, api_key(request))
    request.state.principal = principal
    return principal


DataikuUser = Annotated[Principal, Depends(dataiku_user)]


async def json_body(request: Request) -> dict[str, Any]:
    """The body as a JSON object, whatever its ``Content-Type`` says (the client sends none); empty: ``{}``."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as e:
        raise InvalidInput(f"The body is not JSON: {e}") from None
    if not isinstance(body, dict):
        raise InvalidInput("The body must be a JSON object")
    return body


def text_field(body: dict[str, Any], name: str, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"'{name}' is required and must be a non-empty string")
    return value.strip()
