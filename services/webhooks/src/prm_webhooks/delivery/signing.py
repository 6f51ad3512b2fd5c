"""Standard Webhooks signatures: ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, keyed by
the decoded base64 part of a ``whsec_`` secret (the `standardwebhooks` library signs)."""

from __future__ import annotations

import base64
import datetime as dt
import secrets

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # the specification asks for at least 24


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signature(keys: list[str], message_id: str, timestamp: int, body: str) -> str:
    """The ``webhook-signature`` header: one signature per secret still valid, newest first,
    space-separated (during a rotation's overlap the receiver may know either)."""
    when = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    return " ".join(Webhook(key).sign(message_id, when, body) for key in keys)
