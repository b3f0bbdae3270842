"""A command's envelope: how the gateway reads it from a request, how it crosses NATS, what events record."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar

import pytest

from libs.bus.commands import meta_from_headers, meta_headers
from libs.contracts.commands import Command, CommandMeta, fingerprint, valid_traceparent
from libs.contracts.errors import InvalidInput
from services.gateway.commands import RequestTrace

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class Rename(Command):
    service: ClassVar[str] = "things"
    name: ClassVar[str] = "rename"
    thing_id: str
    new_name: str
    now: datetime


@pytest.mark.parametrize("value", [
    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
    "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
    "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    "00-00000000000000000000000000000000-b7ad6b7169203331-01",
    "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
    "", "garbage"])
def test_an_invalid_traceparent_is_treated_as_absent(value: str) -> None:
    assert valid_traceparent(value) is None


def test_a_valid_traceparent_is_kept() -> None:
    assert valid_traceparent(f" {TRACEPARENT} ") == TRACEPARENT


def test_the_idempotency_key_gives_one_command_id_per_user() -> None:
    trace = RequestTrace.of({"idempotency-key": "abc"})
    assert trace.command_id("1") == RequestTrace.of({"idempotency-key": '"abc"'}).command_id("1")  # IETF quoting
    assert trace.command_id("1") != trace.command_id("2")
    fresh = RequestTrace.of({})
    assert fresh.idempotency_key is None and fresh.command_id("1") != fresh.command_id("1")


@pytest.mark.parametrize("key", ["", "  ", '""', "x" * 256, "a\nb"])
def test_an_unusable_idempotency_key_is_invalid_input(key: str) -> None:
    with pytest.raises(InvalidInput):
        RequestTrace.of({"idempotency-key": key})


def test_the_correlation_id_comes_from_the_request() -> None:
    assert RequestTrace.of({"x-request-id": "r1"}).correlation_id == "r1"
    assert RequestTrace.of({"x-correlation-id": "c1", "x-request-id": "r1"}).correlation_id == "c1"
    assert RequestTrace.of({"x-correlation-id": "x" * 500}).correlation_id == "x" * 128


def test_the_envelope_crosses_headers_unchanged() -> None:
    meta = CommandMeta(correlation_id="c", traceparent=TRACEPARENT, origin="gateway")
    assert meta_from_headers(meta_headers(meta)) == meta
    assert meta_from_headers({"Studios-Command-Id": "not-a-uuid"}).command_id.version == 4


def test_event_metadata_names_the_command_as_cause_and_correlation_by_default() -> None:
    meta = CommandMeta()
    md = meta.event_metadata(actor="7", source="lifecycle", fingerprint="f")
    cid = str(meta.command_id)
    assert md == {"command_id": cid, "causation_id": cid, "correlation_id": cid, "source": "lifecycle",
                  "actor": "7", "command_hash": "f"}


def test_a_fingerprint_ignores_the_handler_clock_but_not_the_request() -> None:
    a = Rename(thing_id="t", new_name="n", now=datetime(2026, 1, 1, tzinfo=UTC))
    assert fingerprint(a) == fingerprint(a.model_copy(update={"now": datetime.now(UTC)}))
    assert fingerprint(a) != fingerprint(a.model_copy(update={"new_name": "m"}))
    assert fingerprint(a, ("now", "thing_id")) == fingerprint(a.model_copy(update={"thing_id": "u"}),
                                                            ("now", "thing_id"))
