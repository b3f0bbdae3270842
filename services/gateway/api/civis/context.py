"""What the Civis routes need: the caller (Basic auth, the API key as the user name), the store and the command
sender the composition root made for the Studios routes, this request's trace, and the display-link key.

Civis sends ``Authorization: Basic base64("<key>:")``; a Studios token is the key. A bearer token is accepted too,
so the same key works from ``curl -H 'Authorization: Bearer ...'``. Every ``/civis`` route takes ``CivisCaller``,
``/civis/endpoints`` included.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from libs.contracts.errors import Unauthenticated
from libs.eventstore import EventStore
from services.gateway.access import auth
from services.gateway.access.auth import Principal
from services.gateway.commands import RequestTrace, TracingSender


def api_key(request: Request) -> str:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if scheme.lower() != "basic" or not value.strip():
        raise Unauthenticated("Authentication required: send your API key as the Basic auth user name")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthenticated("Malformed Basic credentials") from None
    key = decoded.partition(":")[0].strip()
    if not key:
        raise Unauthenticated("Authentication required: send your API key as the Basic auth user name")
    return key


async def caller(request: Request) -> Principal:
    principal = await auth.authenticate(request.app.state.store.pool, api_key(request))
    request.state.principal = principal
    return principal


CivisCaller = Annotated[Principal, Depends(caller)]


@dataclass(frozen=True)
class CivisContext:
    store: EventStore
    sender: TracingSender
    trace: RequestTrace
    studios: Any  # the Studios routes' context (api/seqera): origins and the public URL, read only
    display_key: bytes | None
    display_seconds: float

    def base_url(self, request: Request) -> str:
        return str(self.studios.base_url(request))


def context(request: Request) -> CivisContext:
    studios = request.app.state.studios
    return CivisContext(studios.store, studios.sender, RequestTrace.of(request.headers), studios,
                        getattr(request.app.state, "civis_display_key", None),
                        float(getattr(request.app.state, "civis_display_seconds", 3600.0)))


CivisDep = Annotated[CivisContext, Depends(context)]
