"""Signed deliveries: a body an outside system sends with an HMAC of it under a secret shared
with the vendor (the survey tool's answers, the cloud marketplaces' events).

``<Name>-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``: the service
recomputes the HMAC over the raw bytes of the body, before reading them as JSON, compares in
constant time, and refuses a time more than five minutes from its own, so a captured delivery
cannot be replayed later. Several ``v1`` values may be given (a secret being rotated)."""

import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Header, Request
from pydantic import SecretStr

from prm_platform.http import Caller
from prm_platform.problems import Forbidden, ProblemError

# How far a signature's time may be from ours, either way.
SIGNATURE_TOLERANCE = 300


class SignatureRefused(Forbidden):
    """A delivery whose signature is missing, forged or stale. (A 403 of its own type, not a
    401: the caller's key was good; the delivery is what is refused.)"""

    slug = "invalid-signature"


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """The ``v1`` of a delivery: hex HMAC-SHA256 of ``<t>.<raw body>``."""
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: bytes, timestamp: int, body: bytes) -> str:
    """The header's value for a delivery signed at ``timestamp`` (for senders and tests)."""
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def verify_signature(secret: bytes, header: str | None, body: bytes, now: int, *,
                     name: str = "Survey-Signature") -> None:
    """``header`` (the ``name`` header's value): the body signed with the shared secret, at a
    time within five minutes of ``now``; else ``SignatureRefused``."""
    if not header:
        raise SignatureRefused(f"the {name} header is missing")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        raise SignatureRefused(f"the {name} has no time (t=<unix seconds>)") from None
    if abs(now - timestamp) > SIGNATURE_TOLERANCE:
        raise SignatureRefused(f"the {name} is stale: its time is more than five minutes "
                               "from ours")
    expected = signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected.encode(), given.encode())
               for given in parts.get("v1", [])):
        raise SignatureRefused(f"the {name} does not match the body")


def verify_delivery(secret: SecretStr | None, header: str | None, body: bytes, *, name: str,
                    not_configured: ProblemError) -> None:
    """A delivery's signature checked now against the configured secret; with no secret
    configured, ``not_configured`` is raised for every delivery (fail closed)."""
    shared = secret.get_secret_value() if secret else ""
    if not shared:
        raise not_configured
    verify_signature(shared.encode(), header, body, int(time.time()), name=name)


def signed_delivery(header: str, scope: str, secret_setting: str,
                    not_configured: Callable[[], ProblemError]
                    ) -> Callable[..., Awaitable[None]]:
    """An intake route's dependency: the intake key's ``scope`` (vendor keys only), then the
    ``header`` signature over the raw body against the service's ``secret_setting``, before
    the body is read (fail closed: ``not_configured()`` without a secret)."""

    async def check(request: Request, caller: Caller, signed: Annotated[str | None, Header(
            alias=header.lower(), description=(
                "`t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<raw body>\" with the shared "
                "secret>`; the time within five minutes of ours."),
            examples=["t=1795435200,v1=5f1c0e4b9a8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2918171615"
                      "14131211100f"])] = None) -> None:
        caller.require(scope)
        caller.ensure_vendor()
        secret = getattr(request.app.state.settings, secret_setting)
        verify_delivery(secret, signed, await request.body(), name=header,
                        not_configured=not_configured())
    return check
