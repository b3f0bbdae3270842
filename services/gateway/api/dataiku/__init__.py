"""Dataiku DSS's public API dialect (``/dip/publicapi``), for ``dataiku-api-client`` unchanged: code studio
templates (the builder's templates), a project's code studios (the studios of the workspace the project key
names), futures (builder operations and studio runs) and file-sync zones. A thin translation onto the same
commands and read models as every other dialect; docs/dataiku.md."""

from typing import Any

from fastapi import APIRouter
from fastapi.openapi.utils import get_openapi

from services.gateway.api.dataiku import codestudios, futures, templates, zones

PREFIX = "/dip/publicapi"

router = APIRouter(prefix=PREFIX)
router.include_router(templates.router)
router.include_router(codestudios.router)
router.include_router(zones.router)
router.include_router(futures.router)

_document: dict[str, Any] = {}


@router.get("/openapi.json", include_in_schema=False)
async def openapi() -> dict[str, Any]:
    """This dialect's own OpenAPI document (the app's ``/openapi.json`` has every dialect)."""
    if not _document:
        _document.update(get_openapi(title="Studios: Dataiku DSS public API (code studios)", version="15.2",
                                     description="Dataiku DSS's code studio API as Studios serves it "
                                                 "(docs/dataiku.md)", routes=router.routes))
    return _document


__all__ = ["PREFIX", "router"]
