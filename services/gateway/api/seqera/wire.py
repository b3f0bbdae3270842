"""How the identity/resource routes' plain-dict answers go on the wire: as Seqera sends them.

Seqera leaves a field without a value out of its answers, and strict generated clients reject a ``null`` where
its schema allows none (``user.avatar``, ``organization.website``, ``computeEnv.message``...), so these routes
answer with ``SeqeraJSONResponse``, which drops ``None`` values at every depth. (The studio DTOs are pydantic
models and do the same per field, keeping the few ``null`` s the schema allows: ``base.SeqeraResponse``.)
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

#: Seqera's ``DataLinkProvider`` enum; ours (``local``) is left out of ``provider`` on the wire, like our stop
#: reasons: the ``resourceRef`` (``file://...``) still says what it is.
SEQERA_DATA_LINK_PROVIDERS = frozenset({"aws", "google", "azure", "azure_entra", "azure-cloud", "seqeracompute", "s3"})


def omit_absent(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: omit_absent(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [omit_absent(v) for v in value]
    return value


def seqera_data_link(row: dict[str, Any]) -> dict[str, Any]:
    """A data link row as Seqera shows it: a provider outside Seqera's enum is left out."""
    if row.get("provider") in SEQERA_DATA_LINK_PROVIDERS:
        return row
    return {k: v for k, v in row.items() if k != "provider"}


class SeqeraJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return super().render(omit_absent(content))
