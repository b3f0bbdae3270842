"""DataChain Studio's REST dialect (seed 004) under ``/api``: jobs, job files, compute clusters, the logs-follow
WebSocket. Its OpenAPI is served beside the native one, at ``/api/datachain/openapi.json``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi

from services.gateway.api.datachain import clusters, follow, jobs
from services.gateway.api.datachain.context import DataChainContext, install

router = APIRouter(prefix="/api")
router.include_router(jobs.router)
router.include_router(clusters.router)
router.include_router(follow.router)


def add_openapi(app: FastAPI) -> None:
    document: dict[str, Any] = {}

    @app.get("/api/datachain/openapi.json", include_in_schema=False)
    async def openapi() -> dict[str, Any]:
        if not document:
            document.update(get_openapi(title="Studios: DataChain Studio API", version="1.0.0",
                                        description="DataChain Studio's jobs API, as Studios serves it",
                                        routes=router.routes))
        return document


__all__ = ["DataChainContext", "add_openapi", "install", "router"]
