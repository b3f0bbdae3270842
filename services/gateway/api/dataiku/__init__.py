"""Dataiku DSS's public API dialect (``/dip/publicapi``), for ``dataiku-api-client`` unchanged: code studio
templates (the builder's templates), a project's code studios (the studios of the workspace the project key
names), futures (builder operations and studio runs) and file-sync zones. A thin translation onto the same
commands and read models as every other dialect; docs/dataiku.md."""

from fastapi import APIRouter

from services.gateway.api.dataiku import codestudios, futures, templates, zones

PREFIX = "/dip/publicapi"

router = APIRouter(prefix=PREFIX)
router.include_router(templates.router)
router.include_router(codestudios.router)
router.include_router(zones.router)
router.include_router(futures.router)

__all__ = ["PREFIX", "router"]
