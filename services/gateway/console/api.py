"""The console's one way to the data: the gateway's own REST API, called in-process (``httpx.ASGITransport`` over
this very app) with the signed-in user's token. No second API model and no query logic here: what the console shows
is exactly what an API client would get, with the same authorization and read-your-writes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import Request

from services.gateway.proxy.headers import COOKIE


class ApiError(Exception):
    """An answer that is not 2xx: its status and the message the API gave (RFC 9457 ``detail`` or Seqera's)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _message(r: httpx.Response) -> str:
    try:
        body = r.json()
    except ValueError:
        return r.text[:300] or r.reason_phrase
    if isinstance(body, dict):
        return str(body.get("message") or body.get("detail") or body.get("title") or r.reason_phrase)
    return r.reason_phrase


@dataclass
class Api:
    """The API as the signed-in user sees it (``token`` from the console's cookie)."""

    request: Request
    token: str

    async def call(self, method: str, path: str, params: dict[str, Any] | None = None,
                   json: Any = None) -> Any:
        transport = httpx.ASGITransport(app=self.request.app)
        # the same host the browser used, so links the API builds (studioUrl) point where the browser can go
        base = str(self.request.base_url).rstrip("/")
        async with httpx.AsyncClient(transport=transport, base_url=base, timeout=30.0) as client:
            r = await client.request(method, path, params={k: v for k, v in (params or {}).items()
                                                            if v is not None and v != ""},
                                     json=json, headers={"Authorization": f"Bearer {self.token}",
                                                         "Accept": "application/json"})
        if r.status_code >= 400:
            raise ApiError(r.status_code, _message(r))
        return r.json() if r.content else None

    async def get(self, path: str, **params: Any) -> Any:
        return await self.call("GET", path, params)


def token_of(request: Request) -> str | None:
    token = request.cookies.get(COOKIE, "").strip()
    return token or None
