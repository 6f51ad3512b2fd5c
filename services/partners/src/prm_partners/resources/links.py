"""Signed download links: ``/v1/enablement-downloads/<token>``, the token an HMAC-SHA256 over
the resource, its version, the language, the partner (or the vendor) and the expiry. A link
is a capability of its org only: the download still needs the caller's credentials, of the
org it was made for, and the resource still visible to it."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import logging
import secrets
import uuid
from dataclasses import dataclass

from prm_partners.config import Settings

log = logging.getLogger("prm.partners.enablement")
PATH = "/v1/enablement-downloads/"
_VENDOR = "vendor"
_process_secret: bytes | None = None


@dataclass(frozen=True)
class Link:
    resource_id: uuid.UUID
    version: int
    language: str
    partner_id: uuid.UUID | None  # None: made for the vendor
    expires_at: dt.datetime


def _secret(settings: Settings) -> bytes:
    global _process_secret
    if settings.enablement_link_secret is not None:
        return settings.enablement_link_secret.get_secret_value().encode()
    if _process_secret is None:
        log.warning("PRM_PARTNERS_ENABLEMENT_LINK_SECRET is not set: download links are "
                    "signed with a secret of this process, and work on it alone")
        _process_secret = secrets.token_bytes(32)
    return _process_secret


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(settings: Settings, link: Link) -> str:
    payload = "|".join((str(link.resource_id), str(link.version), link.language,
                        str(link.partner_id) if link.partner_id else _VENDOR,
                        str(int(link.expires_at.timestamp())))).encode()
    mac = hmac.new(_secret(settings), payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(mac)}"


def read(settings: Settings, token: str) -> Link | None:
    """The link a token names if its signature holds (expiry not checked), else None."""
    encoded, dot, signature = token.partition(".")
    if not dot:
        return None
    try:
        payload, mac = _unb64(encoded), _unb64(signature)
    except ValueError:
        return None
    if not hmac.compare_digest(mac, hmac.new(_secret(settings), payload, hashlib.sha256)
                               .digest()):
        return None
    try:
        resource, version, language, partner, expires = payload.decode().split("|")
        return Link(resource_id=uuid.UUID(resource), version=int(version), language=language,
                    partner_id=None if partner == _VENDOR else uuid.UUID(partner),
                    expires_at=dt.datetime.fromtimestamp(int(expires), dt.UTC))
    except ValueError:
        return None
