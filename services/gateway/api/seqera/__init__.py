"""Seqera Platform's REST dialect. ``router`` holds the Studios routes; ``install`` wires their context.

The identity/resource routers (``identity``, ``orgs``, ``resources``) live beside them and are included by the
composition root.
"""

from fastapi import APIRouter

from services.gateway.api.seqera.studios import checkpoints as studio_checkpoints
from services.gateway.api.seqera.studios import connections as studio_connections
from services.gateway.api.seqera.studios import edit as studio_edit
from services.gateway.api.seqera.studios import events as studio_events
from services.gateway.api.seqera.studios import logs as studio_logs
from services.gateway.api.seqera.studios import routes as studios
from services.gateway.api.seqera.studios import settings as studio_settings
from services.gateway.api.seqera.studios import zones as studio_zones
from services.gateway.api.seqera.studios.context import StudiosContext, install

router = APIRouter()
# Order matters: /studios/validate, /templates and /data-links before /studios/{sessionId}.
router.include_router(studios.router)
router.include_router(studio_edit.router)
router.include_router(studio_events.router)
router.include_router(studio_logs.router)
router.include_router(studio_settings.router)
router.include_router(studio_checkpoints.router)
router.include_router(studio_connections.router)
router.include_router(studio_zones.router)

__all__ = ["StudiosContext", "install", "router"]
