"""The webhook endpoint aggregate (``webhook-<webhookId>``). Pure: no I/O, no clock (``now`` is in the command).

An endpoint belongs to one workspace, has a URL (http or https; whether its address is allowed is the glue's
check, it needs DNS), an event-type filter and an enabled flag. ``410 Gone`` from the receiver disables it
(``DisableWebhook`` by the delivery worker); a change with ``enabled=True`` turns it back on.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import urlsplit

from libs.contracts.errors import InvalidInput, NotFound
from libs.contracts.events import Event
from libs.contracts.webhook import WebhookChanged, WebhookDeleted, WebhookDisabled, WebhookRegistered

MAX_URL = 2048
MAX_FILTERS = 100
_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9_.]{0,127}\*?$|^\*$")


@dataclass(frozen=True)
class Webhook:
    exists: bool = False
    deleted: bool = False
    webhook_id: str = ""
    workspace_id: str = ""
    url: str = ""
    event_types: tuple[str, ...] = ()
    description: str | None = None
    enabled: bool = True
    disabled_reason: str | None = None


INITIAL = Webhook()


@dataclass(frozen=True)
class RegisterWebhook:
    webhook_id: str
    workspace_id: str
    url: str
    event_types: Sequence[str]
    description: str | None
    now: datetime
    actor: str


@dataclass(frozen=True)
class ChangeWebhook:
    """Fields left None keep their value."""

    webhook_id: str
    now: datetime
    actor: str
    url: str | None = None
    event_types: Sequence[str] | None = None
    description: str | None = None
    enabled: bool | None = None


@dataclass(frozen=True)
class DisableWebhook:
    webhook_id: str
    reason: str
    now: datetime
    actor: str


@dataclass(frozen=True)
class DeleteWebhook:
    webhook_id: str
    now: datetime
    actor: str


Command = RegisterWebhook | ChangeWebhook | DisableWebhook | DeleteWebhook


def checked_url(url: str) -> str:
    url = url.strip()
    if len(url) > MAX_URL:
        raise InvalidInput(f"url must be at most {MAX_URL} characters", field="url")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("url must be an absolute http or https URL", field="url")
    if parts.username is not None or parts.password is not None:
        # Credentials in a URL would be kept in the event forever: receivers authenticate by the signature.
        raise InvalidInput("url must not carry credentials; verify the signature instead", field="url")
    return url


def checked_types(types: Sequence[str]) -> tuple[str, ...]:
    if isinstance(types, str) or len(types) > MAX_FILTERS:
        raise InvalidInput(f"eventTypes must be a list of at most {MAX_FILTERS} event types", field="eventTypes")
    bad = [t for t in types if not isinstance(t, str) or not _TYPE.match(t)]
    if bad:
        raise InvalidInput(f"eventTypes: not an event type or 'Prefix*': {bad[0]!r}", field="eventTypes")
    return tuple(sorted(set(types)))


def matches(event_types: Sequence[str], event_type: str) -> bool:
    """Whether an endpoint with this filter wants ``event_type`` (empty or ``*``: everything)."""
    if not event_types:
        return True
    return any(event_type == t or (t.endswith("*") and event_type.startswith(t[:-1])) for t in event_types)


def _live(state: Webhook, webhook_id: str) -> None:
    if not state.exists or state.deleted:
        raise NotFound(f"Webhook {webhook_id} not found")


def decide(state: Webhook, c: Command) -> list[Event]:
    if isinstance(c, RegisterWebhook):
        if state.exists:
            return []  # the same id again: a retried registration
        return [WebhookRegistered(webhook_id=c.webhook_id, workspace_id=c.workspace_id, url=checked_url(c.url),
                                  event_types=checked_types(c.event_types), description=c.description,
                                  at=c.now, actor=c.actor)]
    _live(state, c.webhook_id)
    if isinstance(c, ChangeWebhook):
        url = state.url if c.url is None else checked_url(c.url)
        types = state.event_types if c.event_types is None else checked_types(c.event_types)
        description = state.description if c.description is None else c.description
        enabled = state.enabled if c.enabled is None else c.enabled
        if (url, types, description, enabled) == (state.url, state.event_types, state.description, state.enabled):
            return []
        return [WebhookChanged(webhook_id=c.webhook_id, url=url, event_types=types, description=description,
                               enabled=enabled, at=c.now, actor=c.actor)]
    if isinstance(c, DisableWebhook):
        if not state.enabled:
            return []
        return [WebhookDisabled(webhook_id=c.webhook_id, reason=c.reason, at=c.now, actor=c.actor)]
    return [WebhookDeleted(webhook_id=c.webhook_id, at=c.now, actor=c.actor)]


def evolve(state: Webhook, e: Event) -> Webhook:
    if isinstance(e, WebhookRegistered):
        return Webhook(True, False, e.webhook_id, e.workspace_id, e.url, e.event_types, e.description)
    if isinstance(e, WebhookChanged):
        return replace(state, url=e.url, event_types=e.event_types, description=e.description, enabled=e.enabled,
                       disabled_reason=None if e.enabled else state.disabled_reason)
    if isinstance(e, WebhookDisabled):
        return replace(state, enabled=False, disabled_reason=e.reason)
    if isinstance(e, WebhookDeleted):
        return replace(state, deleted=True, enabled=False)
    return state
