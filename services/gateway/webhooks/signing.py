"""Signatures of a delivery: Standard Webhooks' (through the ``standardwebhooks`` package) and GitHub's style.

- ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and ``webhook-signature: v1,<base64 HMAC-SHA256 of
  "<id>.<timestamp>.<body>">``, keyed with the secret's base64-decoded bytes (the spec).
- ``X-Studios-Signature-256: sha256=<hex HMAC-SHA256 of the body>``, keyed with the whole secret string as handed out
  (``whsec_…``), the way GitHub-style receivers use the secret they were given. It signs no timestamp, so it does
  not protect against replays the way the Standard Webhooks signature does; docs/webhooks.md says so.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime

from standardwebhooks.webhooks import Webhook

PREFIX = "whsec_"


def new_secret() -> str:
    """A fresh endpoint secret: ``whsec_`` and 32 random bytes in base64 (the spec allows 24 to 64)."""
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def github_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def headers(secret: str, message_id: str, at: datetime, body: bytes) -> dict[str, str]:
    """The signing headers of one attempt (each attempt signs its own time: receivers refuse old timestamps)."""
    timestamp = int(at.timestamp())
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": Webhook(secret).sign(message_id, at, body.decode()),
        "X-Studios-Signature-256": github_signature(secret, body),
    }
