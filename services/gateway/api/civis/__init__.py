"""Civis Platform's ``/studios`` dialect, mounted at ``/civis`` (docs/civis.md): the real ``civis`` client pointed
at ``<gateway>/civis/`` works unmodified. A thin translation to our studio commands and read models (a deployment
is a session run); errors in Civis's shape (``errors.py``); Basic auth with the API key as the user name.
"""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from services.gateway.api.civis import deployments, display, endpoints, studios
from services.gateway.api.civis.display import link_key
from services.gateway.api.civis.errors import CivisRoute, civis_error

router = APIRouter(prefix="/civis", tags=["civis"], route_class=CivisRoute)
router.include_router(endpoints.router)
router.include_router(studios.router)
router.include_router(deployments.router)
router.include_router(display.router)

_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


@router.api_route("/{path:path}", methods=_METHODS, include_in_schema=False)
async def unknown(request: Request, path: str) -> JSONResponse:
    """Anything else under ``/civis`` is Civis's 404, not the Seqera dialect's."""
    return civis_error(404, f"No such endpoint: {request.method} /civis/{path}")


__all__ = ["link_key", "router"]
