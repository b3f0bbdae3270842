"""Sign in and out, and who the console is showing things for: the user, their workspaces, the one selected.

Signing in exchanges the token for an HttpOnly, SameSite=Lax cookie on the gateway's main origin (host-only, so no
studio origin ever receives it). It is the same cookie the ``/connect/<id>/`` entry point reads, so the Connect
button opens a studio on its own origin with a single-use connect ticket and the token never appears in a URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from services.gateway.console.api import Api, ApiError
from services.gateway.console.web import PREFIX, SameOrigin, redirect, render
from services.gateway.proxy.entry import is_https
from services.gateway.proxy.headers import COOKIE

router = APIRouter(prefix=PREFIX, include_in_schema=False)
#: how long the browser keeps the sign-in (the token's own expiry or revocation ends it sooner)
COOKIE_SECONDS = 12 * 3600


def _next(value: str | None) -> str:
    """Only a console path: a sign-in link must not send the browser anywhere else."""
    return value if value and value.startswith(PREFIX + "/") and not value.startswith("//") else f"{PREFIX}/"


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_page(request: Request, next: str | None = None) -> Response:
    return render(request, "sign_in.html", {"next": _next(next), "error": None})


@router.post("/sign-in", dependencies=[SameOrigin])
async def sign_in(request: Request, token: Annotated[str, Form()], next: Annotated[str, Form()] = "") -> Response:
    token = token.strip()
    try:
        await Api(request, token).get("/user-info")
    except ApiError as e:
        message = "That token is not valid (expired or revoked?)" if e.status == 401 else e.message
        return render(request, "sign_in.html", {"next": _next(next), "error": message}, status=401)
    response = redirect(request, _next(next))
    response.set_cookie(COOKIE, token, max_age=COOKIE_SECONDS, path="/", httponly=True, samesite="lax",
                        secure=is_https(request))
    return response


@router.post("/sign-out", dependencies=[SameOrigin])
async def sign_out(request: Request) -> Response:
    response = redirect(request, f"{PREFIX}/sign-in")
    for path in ("/", "/connect/"):  # the entry point's own sign-in cookie too
        response.delete_cookie(COOKIE, path=path)
    return response


@dataclass(frozen=True)
class Who:
    user: dict[str, Any]
    workspaces: list[dict[str, Any]]  # each with orgName, for the switcher
    workspace_id: int | None

    @property
    def workspace(self) -> dict[str, Any] | None:
        return next((w for w in self.workspaces if w["id"] == self.workspace_id), None)


async def who(api: Api, workspace_id: int | None) -> Who:
    """The user and the workspaces they can open, from the API (``/user-info``, ``/orgs``, their workspaces)."""
    info = await api.get("/user-info")
    spaces: list[dict[str, Any]] = []
    for org in (await api.get("/orgs"))["organizations"]:
        try:
            listed = (await api.get(f"/orgs/{org['orgId']}/workspaces"))["workspaces"]
        except ApiError:
            continue  # a collaborator of one workspace may not list the organization's
        spaces += [{**w, "orgName": org["name"]} for w in listed]
    chosen = workspace_id if workspace_id is not None else info.get("defaultWorkspaceId")
    if chosen is None and spaces:
        chosen = spaces[0]["id"]
    return Who(info["user"], spaces, chosen)
