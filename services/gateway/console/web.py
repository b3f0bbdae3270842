"""What every console route shares: the templates, the signed-in API, same-origin checks on writes, and how an API
error becomes a page (a full page for a navigation, a small fragment with status 200 for htmx, so a swap shows the
message instead of leaving an error in the browser's console)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from services.gateway.console.api import Api, ApiError, token_of
from services.gateway.console.view import install_filters
from services.gateway.proxy.entry import gateway_origin
from services.gateway.proxy.headers import COOKIE

HERE = Path(__file__).parent
PREFIX = "/console"
templates = Jinja2Templates(directory=str(HERE / "templates"))
install_filters(templates.env)


class SignInRequired(Exception):
    """No console cookie, or the API refused its token: back to the sign-in page."""


class CrossOrigin(Exception):
    """A write whose request did not come from a page of the console's own origin."""


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"prefix": PREFIX, **context}, status_code=status)


def signed_api(request: Request) -> Api:
    token = token_of(request)
    if token is None:
        raise SignInRequired()
    return Api(request, token)


def same_origin(request: Request) -> None:
    """The sign-in cookie is SameSite=Lax, but a studio's own origin (a subdomain) is the same *site*: a write is
    taken only from this exact origin, as the browser reports it."""
    site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    if site is not None and site not in ("same-origin", "none"):
        raise CrossOrigin()
    if origin is not None and origin.lower() != gateway_origin(request):
        raise CrossOrigin()


SignedApi = Annotated[Api, Depends(signed_api)]
SameOrigin = Depends(same_origin)


def redirect(request: Request, url: str) -> Response:
    """A navigation for htmx (``HX-Redirect``) or a plain 303 for a form post without JavaScript."""
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


async def on_sign_in_required(request: Request, _: Exception) -> Response:
    back = request.url.path if request.method == "GET" and not is_htmx(request) else f"{PREFIX}/"
    return redirect(request, f"{PREFIX}/sign-in?next={back}")


async def on_cross_origin(request: Request, _: Exception) -> Response:
    return render(request, "error.html", {"status": 403, "message": "This form must be sent from the console"},
                  status=403)


async def on_api_error(request: Request, e: Exception) -> Response:
    assert isinstance(e, ApiError)
    if e.status == 401:
        response = await on_sign_in_required(request, e)
        response.delete_cookie(COOKIE, path="/")
        return response
    if is_htmx(request) and request.method == "GET" and e.status >= 500:
        return Response(status_code=204)  # a poll during a restart: keep the last view, the next poll retries
    if is_htmx(request):
        return render(request, "_error.html", {"status": e.status, "message": e.message})
    return render(request, "error.html", {"status": e.status, "message": e.message}, status=e.status)
