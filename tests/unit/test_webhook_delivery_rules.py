"""What each delivery attempt is made of: the retry schedule (the Standard Webhooks one, jittered, then spent),
signatures that the ``standardwebhooks`` package and a GitHub-style receiver verify, and the SSRF guard."""

from __future__ import annotations

import hashlib
import hmac
import random
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook

from services.gateway.webhooks import addresses, signing
from services.gateway.webhooks.schedule import SCHEDULE, proportional_jitter, retry_delay


def test_the_schedule_is_the_spec_s_and_is_spent_after_its_last_retry() -> None:
    assert [retry_delay(n) for n in range(1, 8)] == [5, 300, 1800, 7200, 18000, 36000, 36000]
    assert retry_delay(8) is None and retry_delay(0) is None
    assert 26 * 3600 < sum(SCHEDULE) < 28 * 3600  # "about a day"


def test_jitter_stays_within_its_spread_and_varies() -> None:
    jitter = proportional_jitter(0.2, random.Random(1))
    delays = [retry_delay(3, jitter=jitter) for _ in range(50)]
    assert all(d is not None and 1440 <= d <= 2160 for d in delays)
    assert len(set(delays)) > 1


def test_the_signature_verifies_with_standardwebhooks_and_the_github_style_one_with_hmac() -> None:
    secret = signing.new_secret()
    assert secret.startswith("whsec_")
    body = b'{"type":"StudioCreated","data":{"x":1}}'
    headers = signing.headers(secret, "d1", datetime.now(UTC), body)
    assert Webhook(secret).verify(body, headers) == {"type": "StudioCreated", "data": {"x": 1}}
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Studios-Signature-256"] == f"sha256={expected}"


def test_a_tampered_body_does_not_verify() -> None:
    secret = signing.new_secret()
    headers = signing.headers(secret, "d1", datetime.now(UTC), b'{"a":1}')
    with pytest.raises(Exception, match="signature"):
        Webhook(secret).verify(b'{"a":2}', headers)


def resolver(*found: str) -> addresses.Resolver:
    async def resolve(_host: str, _port: int) -> Sequence[str]:
        return found

    return resolve


@pytest.mark.parametrize("found", [("127.0.0.1",), ("10.1.2.3",), ("169.254.169.254",), ("::1",),
                                   ("::ffff:192.168.0.1",), ("93.184.215.14", "192.168.1.1"), ("0.0.0.0",)])
async def test_private_loopback_and_metadata_addresses_are_refused(found: tuple[str, ...]) -> None:
    with pytest.raises(addresses.Refused, match="STUDIOS_WEBHOOKS_ALLOW_PRIVATE"):
        await addresses.target("https://hooks.example.org/x", False, resolver(*found))


async def test_the_request_goes_to_the_address_that_was_checked() -> None:
    to = await addresses.target("https://hooks.example.org:8443/in?k=1", False, resolver("93.184.215.14"))
    assert to == addresses.Target("https://93.184.215.14:8443/in?k=1", "hooks.example.org:8443",
                                  "hooks.example.org")


async def test_private_addresses_are_allowed_when_the_operator_says_so() -> None:
    to = await addresses.target("http://localhost:9000/", True, resolver("127.0.0.1"))
    assert to.url == "http://127.0.0.1:9000/" and to.host == "localhost:9000" and to.server_name is None
