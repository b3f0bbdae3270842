"""Webhook endpoints (stream ``webhook-<webhookId>``), owned by the gateway.

A workspace admin registers an endpoint: a URL and the event types it wants. The signing secret is *not* here: it
lives in the gateway's own table (``webhooks.secrets``), because events are kept forever and relayed to every
subscriber (DESIGN §2). Deliveries are data of the gateway, not events (docs/webhooks.md).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import AwareDatetime

from libs.contracts.events import Event, registry

CATEGORY = "webhook"


def stream_name(webhook_id: str) -> str:
    return f"{CATEGORY}-{webhook_id}"


@registry.register
class WebhookRegistered(Event):
    event_type: ClassVar[str] = "WebhookRegistered"
    webhook_id: str
    workspace_id: str
    url: str
    #: exact event types, or prefixes ending in ``*`` (``Studio*``); empty: every event of the workspace
    event_types: tuple[str, ...] = ()
    description: str | None = None
    at: AwareDatetime
    actor: str


@registry.register
class WebhookChanged(Event):
    """The endpoint's whole definition after the change."""

    event_type: ClassVar[str] = "WebhookChanged"
    webhook_id: str
    url: str
    event_types: tuple[str, ...] = ()
    description: str | None = None
    enabled: bool = True
    at: AwareDatetime
    actor: str


@registry.register
class WebhookDisabled(Event):
    """Deliveries stopped: by the receiver (``410 Gone``) or by an admin; a change with ``enabled`` resumes them."""

    event_type: ClassVar[str] = "WebhookDisabled"
    webhook_id: str
    at: AwareDatetime
    actor: str
    reason: str


@registry.register
class WebhookDeleted(Event):
    event_type: ClassVar[str] = "WebhookDeleted"
    webhook_id: str
    at: AwareDatetime
    actor: str
