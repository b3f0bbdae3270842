"""The relay's ack window settles an in-flight publish only on JetStream's answer, never on another subscriber's."""

from __future__ import annotations

import asyncio
import json

import pytest
from nats.aio.msg import Msg

from libs.bus.acks import Ack, AckWindow, Outcome, PublishFailed, classify, fast_path_available
from libs.eventstore import Position

STREAM = "EVENTS"


def reply(token: str, data: bytes, headers: dict[str, str] | None = None) -> Msg:
    return Msg(_client=None, subject=f"_INBOX.w.{token}", data=data, headers=headers)  # type: ignore[arg-type]


def window() -> AckWindow:
    return AckWindow(nc=None, stream=STREAM)  # type: ignore[arg-type]  # never connects here


async def pending(window: AckWindow, token: str) -> asyncio.Future[Outcome]:
    future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
    window._futures[token] = future
    return future


@pytest.mark.parametrize("body", [
    b"", b"ok", b"{", b"[1]", b"{}", b'{"ok": true}', b'{"seq": 7}', b'{"stream": "EVENTS"}',
    b'{"stream": "OTHER", "seq": 7}', b'{"stream": "EVENTS", "seq": "7"}', b'{"stream": "EVENTS", "seq": true}',
    b'{"stream": "EVENTS", "seq": -1}', b'{"error": "not a JetStream error"}', b'{"studio_id": "x", "n": 1}',
])
def test_a_reply_that_is_not_a_publish_ack_of_the_stream_is_someone_elses(body: bytes) -> None:
    assert classify(body, None, STREAM) is None


def test_a_publish_ack_of_the_target_stream_is_the_ack() -> None:
    assert classify(b'{"stream": "EVENTS", "seq": 7}', None, STREAM) == Ack("EVENTS", 7)
    assert classify(b'{"stream":"EVENTS","seq":7,"duplicate":true}', None, STREAM) == Ack("EVENTS", 7, True)
    assert classify(b'{"stream": "REPLAY", "seq": 1}', None, None) == Ack("REPLAY", 1)  # any stream accepted


def test_a_jetstream_error_or_no_responders_is_a_refusal() -> None:
    full = {"error": {"code": 503, "err_code": 10077, "description": "maximum messages exceeded"}}
    refused = classify(json.dumps(full).encode(), None, STREAM)
    assert isinstance(refused, PublishFailed) and "maximum messages exceeded" in str(refused)
    assert isinstance(classify(b"", {"Status": "503"}, STREAM), PublishFailed)


async def test_other_subscribers_answers_are_ignored_until_jetstream_acks() -> None:
    w = window()
    future = await pending(w, "1")
    for body in (b"", b"ok", b'{"ok": true}', b'{"stream": "OTHER", "seq": 3}'):
        await w._on_ack(reply("1", body))
    assert not future.done() and w.foreign == 4
    await w._on_ack(reply("1", b'{"stream": "EVENTS", "seq": 7}'))
    assert future.result() == Ack("EVENTS", 7)


async def test_a_refusal_fails_the_publish_when_it_is_settled() -> None:
    w = window()
    future = await pending(w, "2")
    w._pending.append((future, Position(1, 1)))
    await w._on_ack(reply("2", b"", {"Status": "503"}))
    with pytest.raises(PublishFailed):
        await w.drain()
    assert w.acked is None


async def test_a_skipped_position_settles_in_order_without_counting_as_published() -> None:
    w = window()
    first = await pending(w, "1")
    w._pending.append((first, Position(1, 1)))
    w.skip(Position(1, 2))
    first.set_result(Ack(STREAM, 1))
    await w.drain()
    assert (w.acked, w.count) == (Position(1, 2), 1)


class _NoWriteBuffer:
    """A client without nats-py's private write buffer: what a future nats-py may look like."""

    max_payload = 1024 * 1024


def test_the_fast_path_is_detected_only_where_nats_py_has_it() -> None:
    from nats.aio.client import Client

    assert fast_path_available(Client())
    assert not fast_path_available(_NoWriteBuffer())
    assert not AckWindow(_NoWriteBuffer(), STREAM).fast  # type: ignore[arg-type]
