"""``displayUrl``: a signed link that opens a deployment's tool in a browser with no other credential.

The link names the studio, the run, the caller's token (by id, never by value) and an expiry, signed with HMAC-SHA256
under a key derived from the server's session key (kept outside the events). Opening it (``GET
/civis/display/...``, the one ``/civis`` route without Basic auth: the signature is its credential) checks the
signature and expiry, authenticates the token again by its hash (revoked or expired: refused), applies the studio's
connect policy, and then, in subdomain mode, issues a single-use connect ticket and redirects to the studio's own
origin, which exchanges it for a session cookie there (``access.tickets``, ``proxy.origin``). In path mode there is
no ticket to redeem on the gateway's origin, so the link sends the browser to the studio's entry point, where it
signs in.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from libs.contracts.errors import Conflict, Forbidden, NotFound, Unauthenticated
from libs.contracts.studio import StudioStatus
from services.gateway.access import auth
from services.gateway.access.tickets import Tickets
from services.gateway.api.civis.context import CivisContext, CivisDep
from services.gateway.api.civis.errors import CivisRoute
from services.gateway.proxy.entry import TICKET_PARAM, entry_url
from services.gateway.proxy.hosts import takes_base_path
from services.gateway.proxy.wiring import connect_permission
from services.gateway.read import deployments as queries
from services.gateway.read import studios as studio_queries

router = APIRouter(route_class=CivisRoute)
_PURPOSE = b"studios civis display link v1"


def link_key(session_key: bytes) -> bytes:
    """The display links' own key: a signature for them can never stand for anything else signed with the root."""
    return hmac.new(session_key, _PURPOSE, hashlib.sha256).digest()


def signature(key: bytes, session_id: str, run: int, token_id: int, expires: int) -> str:
    message = f"{session_id}\n{run}\n{token_id}\n{expires}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def display_url(ctx: CivisContext, base: str, session_id: str, run: int, token_id: int) -> str:
    if ctx.display_key is None:  # no key configured (an app built without it): the studio's plain URL
        return str(ctx.studios.origins.studio_url(base, session_id))
    expires = int(time.time() + ctx.display_seconds)
    query = urlencode({"token": token_id, "expires": expires,
                       "sig": signature(ctx.display_key, session_id, run, token_id, expires)})
    return f"{base}/civis/display/{session_id}/{run}?{query}"


@router.get("/display/{session_id}/{run}", include_in_schema=False)
async def open_display(request: Request, session_id: str, run: int, token: int, expires: int, sig: str,
                       ctx: CivisDep) -> RedirectResponse:
    key = ctx.display_key
    if key is None or not hmac.compare_digest(sig, signature(key, session_id, run, token, expires)):
        raise Forbidden("This display link is not valid")
    if expires < time.time():
        raise Forbidden("This display link has expired: get the deployment again for a new one")
    db = ctx.store.pool
    token_hash = await queries.token_hash(db, token)
    if token_hash is None:
        raise Unauthenticated("The token this link was made for has been revoked")
    user = await auth.authenticate_hash(db, token_hash)
    state = await studio_queries.studio(db, session_id)
    if state is None:
        raise NotFound(f"Studio {session_id} not found")
    await connect_permission(db)(user, state)
    if state.run != run or state.status is not StudioStatus.RUNNING:
        raise Conflict(f"Deployment {run} of this studio is not running")
    base = ctx.base_url(request)
    origins = ctx.studios.origins
    if not origins.subdomains:
        return _redirect(entry_url(base, session_id))
    ticket = await Tickets(db).issue(session_id, token_hash)
    path = f"/connect/{session_id}/" if takes_base_path(state.template) else "/"
    return _redirect(f"{origins.origin(base, session_id)}{path}?{TICKET_PARAM}={ticket}")


def _redirect(location: str) -> RedirectResponse:
    response = RedirectResponse(location, status_code=302)
    response.headers["cache-control"] = "no-store"
    response.headers["referrer-policy"] = "no-referrer"  # the ticket must not leak to the next page's requests
    return response
