"""Turning read-model states into Seqera DTOs for a request (with the lookups of users, compute envs, ...)."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import Request

from libs.contracts.studio_state import State
from services.gateway.api.seqera import lookups
from services.gateway.api.seqera.dto import to_dto
from services.gateway.api.seqera.studios import models as m
from services.gateway.api.seqera.studios.context import StudiosContext


def wants_labels(attributes: Sequence[str] | None) -> bool:
    """``attributes=labels``, repeated or comma-separated, any case."""
    return any(a.strip().lower() == "labels" for item in attributes or () for a in item.split(","))


async def dto_of(request: Request, ctx: StudiosContext, state: State, with_labels: bool = False) -> m.DataStudioDto:
    found = await lookups.for_studios(ctx.store.pool, [state], with_labels)
    return to_dto(state, ctx.base_url(request), found, ctx.studio_url(request, state.session_id))


async def page_of(request: Request, ctx: StudiosContext, states: Sequence[State], total: int,
                  attributes: Sequence[str] | None) -> m.DataStudioListResponse:
    found = await lookups.for_studios(ctx.store.pool, states, wants_labels(attributes))
    base = ctx.base_url(request)
    return m.DataStudioListResponse(studios=[to_dto(s, base, found, ctx.studio_url(request, s.session_id))
                                             for s in states], total_size=total)
