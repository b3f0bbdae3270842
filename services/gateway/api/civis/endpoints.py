"""``GET /civis/endpoints``: the Swagger 2.0 document the real Civis client builds its methods from at start.

It is Civis's own ``/studios`` document (``specs/studios-swagger.yaml``, as bundled in the public ``civis``
client), plus what Civis's lacks and people want: ``GET /studios/`` (a list; the client names a method ``list_…``
only when its 200 schema is an array, so every list operation declares one). Basic auth like every ``/civis``
route: the client sends its key for this download too.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from fastapi import APIRouter

from services.gateway.api.civis.context import CivisCaller
from services.gateway.api.civis.errors import CivisRoute

router = APIRouter(route_class=CivisRoute)
SPEC = Path(__file__).parent / "specs" / "studios-swagger.yaml"


def _query(name: str, kind: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "type": kind, "description": description}


LIST_STUDIOS: dict[str, Any] = {
    "summary": "List Studios",
    "description": "Studios visible to you, newest first (a Studios extension of Civis's API).",
    "deprecated": False,
    "parameters": [
        _query("limit", "integer", "Number of results to return. Defaults to 20. Maximum allowed is 1000."),
        _query("page_num", "integer", "Page number of the results to return. Defaults to the first page, 1."),
        _query("archived", "string", "The archival status of the requested item(s)."),
    ],
    "responses": {"200": {"description": "success",
                          "schema": {"type": "array", "items": {"$ref": "#/definitions/Studio"}}}},
    "x-examples": None,
    "x-deprecation-warning": None,
}


@cache
def document() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(SPEC.read_text())
    doc["info"] = {**doc.get("info", {}), "description": "Studios speaking Civis Platform's /studios API"}
    doc["paths"]["/studios/"]["get"] = LIST_STUDIOS
    return doc


@router.get("/endpoints")
async def endpoints(_: CivisCaller) -> dict[str, Any]:
    return copy.deepcopy(document())
