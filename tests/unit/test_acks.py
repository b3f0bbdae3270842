"""The relay's ack window settles an in-flight publish only on JetStream's answer, never on another subscriber's."""

from __future__ import annotations

import asyncio

from nats.aio.msg import Msg

from libs.bus.acks import AckWindow


def reply(token: str, data: bytes, headers: dict[str, str] | None = None) -> Msg:
    return Msg(_client=None, subject=f"_INBOX.w.{token}", data=data, headers=headers)  # type: ignore[arg-type]


async def pending(window: AckWindow, token: str) -> asyncio.Future[bytes]:
    future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
    window._futures[token] = future
    return future


async def test_an_empty_reply_from_a_plain_subscriber_is_ignored() -> None:
    window = AckWindow(nc=None)  # type: ignore[arg-type]  # never connects here
    future = await pending(window, "1")
    await window._on_ack(reply("1", b""))  # a FastStream handler that returned None
    await window._on_ack(reply("1", b"ok"))
    assert not future.done()
    await window._on_ack(reply("1", b'{"stream": "EVENTS", "seq": 7}'))
    assert future.result() == b'{"stream": "EVENTS", "seq": 7}'


async def test_no_responders_settles_as_a_refusal() -> None:
    window = AckWindow(nc=None)  # type: ignore[arg-type]  # never connects here
    future = await pending(window, "2")
    await window._on_ack(reply("2", b"", {"Status": "503"}))
    assert future.done() and future.result() == b""
