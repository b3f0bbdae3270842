"""The proxy's pure parts: which headers cross (who may connect is ``test_policy``)."""

from __future__ import annotations

from services.gateway.proxy.headers import (
    Forwarding,
    downstream_headers,
    upstream_headers,
    without_cookie,
    without_query_param,
)

VIA = Forwarding("10.0.0.1", "https", "studios.example")


def test_upstream_headers_swap_credentials_and_drop_hop_by_hop() -> None:
    headers = upstream_headers([
        (b"Host", b"studios.example"), (b"Authorization", b"Bearer user-token"), (b"Connection", b"keep-alive, x-a"),
        (b"X-A", b"1"), (b"Keep-Alive", b"5"), (b"Cookie", b"_xsrf=x; studios_token=user-token"),
        (b"X-Studios-Secret", b"forged"), (b"Accept", b"*/*"),
    ], "s3", VIA)
    assert headers == [
        (b"host", b"studios.example"), (b"cookie", b"_xsrf=x"), (b"accept", b"*/*"),
        (b"x-forwarded-for", b"10.0.0.1"), (b"x-forwarded-proto", b"https"), (b"x-forwarded-host", b"studios.example"),
        (b"x-studios-secret", b"s3"), (b"authorization", b"token s3"),
    ]


def test_forwarded_for_extends_a_chain_and_websocket_handshake_headers_stay_behind() -> None:
    headers = dict(upstream_headers([(b"x-forwarded-for", b"1.2.3.4"), (b"sec-websocket-key", b"k"),
                                     (b"origin", b"https://studios.example")], "s3", VIA, websocket=True))
    assert headers[b"x-forwarded-for"] == b"1.2.3.4, 10.0.0.1"
    assert b"sec-websocket-key" not in headers and headers[b"origin"] == b"https://studios.example"


def test_downstream_headers_keep_repeats_and_drop_hop_by_hop() -> None:
    raw = [(b"Set-Cookie", b"a=1"), (b"Set-Cookie", b"b=2"), (b"Transfer-Encoding", b"chunked")]
    assert downstream_headers(raw) == [(b"set-cookie", b"a=1"), (b"set-cookie", b"b=2")]


def test_cookie_and_query_filters_leave_everything_else_byte_for_byte() -> None:
    assert without_cookie(b"studios_token=t") == b""
    assert without_query_param(b"a=%20x&access_token=t&b=+", "access_token") == b"a=%20x&b=+"
