"""Studios' own REST dialect ("native"): what no vendor's API has a shape for — the template registry, builds and
operation handles — with RFC 9457 problem details for errors (``problems.py``). Named for what it is (this
project's own API, beside the vendors' dialects under ``api/``), not for a version: its paths carry no prefix,
so a client of the Seqera dialect finds it on the same base URL.
"""

from fastapi import APIRouter

from services.gateway.api.native import builds, templates

router = APIRouter()
router.include_router(templates.router)
router.include_router(builds.router)

__all__ = ["router"]
