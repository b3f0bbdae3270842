"""The webhook endpoint aggregate: registration checks its URL and filter, a change records the whole definition
(and nothing when nothing changes), a 410 disables once, a change with ``enabled`` resumes, a deleted endpoint is
gone; and the filter rule the fan-out's SQL repeats."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from libs.contracts.errors import InvalidInput, NotFound
from libs.contracts.webhook import WebhookChanged, WebhookDeleted, WebhookDisabled, WebhookRegistered
from libs.testing.given_when_then import Aggregate
from services.gateway.domain import webhook as wh

T = datetime(2026, 1, 1, tzinfo=UTC)
spec = Aggregate.of(wh)
URL = "https://hooks.example.org/studios"


def register(url: str = URL, types: list[str] | None = None) -> wh.RegisterWebhook:
    return wh.RegisterWebhook("w1", "10", url, types or [], None, T, "7")


registered = WebhookRegistered(webhook_id="w1", workspace_id="10", url=URL, event_types=(), at=T, actor="7")


def test_registration_records_the_endpoint_with_its_filter_sorted_and_unique() -> None:
    state = spec.given().when(register(types=["StudioSessionStopped", "Studio*", "Studio*"])).then(
        WebhookRegistered(webhook_id="w1", workspace_id="10", url=URL,
                          event_types=("Studio*", "StudioSessionStopped"), at=T, actor="7"))
    assert state.exists and state.enabled and state.workspace_id == "10"


def test_a_retried_registration_records_nothing() -> None:
    spec.given(registered).when(register()).then_nothing()


@pytest.mark.parametrize("url", ["ftp://example.org/x", "/relative", "https://user:pw@example.org/", "http://"])
def test_registration_refuses_a_url_that_is_not_plain_http(url: str) -> None:
    spec.given().when(register(url=url)).then_raises(InvalidInput)


@pytest.mark.parametrize("types", [["Studio Created"], ["*Studio"], ["a" * 200]])
def test_registration_refuses_a_filter_that_is_not_event_types(types: list[str]) -> None:
    spec.given().when(register(types=types)).then_raises(InvalidInput, "eventTypes")


def test_a_change_records_the_whole_definition_and_keeps_what_it_does_not_send() -> None:
    spec.given(registered).when(wh.ChangeWebhook("w1", T, "7", event_types=["StudioCreated"])).then(
        WebhookChanged(webhook_id="w1", url=URL, event_types=("StudioCreated",), enabled=True, at=T, actor="7"))


def test_a_change_that_changes_nothing_records_nothing() -> None:
    spec.given(registered).when(wh.ChangeWebhook("w1", T, "7", url=URL, enabled=True)).then_nothing()


def test_a_410_disables_once_and_a_change_with_enabled_resumes() -> None:
    gone = WebhookDisabled(webhook_id="w1", at=T, actor="webhooks", reason="410")
    state = spec.given(registered).when(wh.DisableWebhook("w1", "410", T, "webhooks")).then(gone)
    assert not state.enabled and state.disabled_reason == "410"
    spec.given(registered, gone).when(wh.DisableWebhook("w1", "410", T, "webhooks")).then_nothing()
    state = spec.given(registered, gone).when(wh.ChangeWebhook("w1", T, "7", enabled=True)).then(
        WebhookChanged(webhook_id="w1", url=URL, enabled=True, at=T, actor="7"))
    assert state.enabled and state.disabled_reason is None


def test_a_deleted_or_unknown_endpoint_is_not_found() -> None:
    deleted = WebhookDeleted(webhook_id="w1", at=T, actor="7")
    spec.given(registered).when(wh.DeleteWebhook("w1", T, "7")).then(deleted)
    spec.given(registered, deleted).when(wh.ChangeWebhook("w1", T, "7", enabled=True)).then_raises(NotFound)
    spec.given().when(wh.DeleteWebhook("w1", T, "7")).then_raises(NotFound)


@pytest.mark.parametrize(("types", "event_type", "wanted"), [
    ((), "StudioCreated", True), (("*",), "UserCreated", True), (("Studio*",), "StudioSessionRunning", True),
    (("Studio*",), "CheckpointSaved", False), (("StudioCreated",), "StudioCreatedX", False),
])
def test_the_filter_takes_exact_types_and_prefixes(types: tuple[str, ...], event_type: str, wanted: bool) -> None:
    assert wh.matches(types, event_type) is wanted
