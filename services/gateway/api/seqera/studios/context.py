"""What the Studios routes need from the composition root: the store, the command sender and the public URL.

``install(app, ctx)`` puts a ``StudiosContext`` on ``app.state.studios`` (and the store on ``app.state.store``,
where ``access.auth`` finds it); routes take it through ``ContextDep`` and the caller via ``access.auth.CurrentUser``.
``ContextDep`` is per request: it carries the request's ``RequestTrace`` (``Idempotency-Key``, correlation id,
``traceparent``), which ``writes`` turns into each command's envelope.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from libs.eventstore import EventStore
from services.gateway.commands import RequestTrace, TracingSender
from services.gateway.proxy.hosts import StudioOrigins


@dataclass
class StudiosContext:
    store: EventStore
    sender: TracingSender
    public_url: str | None = None  # the gateway's base URL as browsers see it; None: the request's
    consistency_timeout: float = 5.0
    sse_poll: float = 0.3
    trace: RequestTrace = field(default_factory=RequestTrace)
    origins: StudioOrigins = field(default_factory=StudioOrigins)  # path mode unless the composition root says

    def base_url(self, request: Request) -> str:
        return (self.public_url or str(request.base_url)).rstrip("/")

    def studio_url(self, request: Request, session_id: str) -> str:
        """``studioUrl``: the studio's own origin in subdomain mode, ``/connect/<id>/`` here in path mode."""
        return self.origins.studio_url(self.base_url(request), session_id)


def install(app: FastAPI, context: StudiosContext) -> None:
    app.state.studios = context
    if getattr(app.state, "store", None) is None:
        app.state.store = context.store


def context(request: Request) -> StudiosContext:
    ctx: StudiosContext = request.app.state.studios
    return replace(ctx, trace=RequestTrace.of(request.headers))


ContextDep = Annotated[StudiosContext, Depends(context)]
