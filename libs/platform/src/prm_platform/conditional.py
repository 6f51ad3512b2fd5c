"""Conditional reads: every successful JSON GET carries an ETag, and ``If-None-Match`` on it
answers ``304 Not Modified`` without the body (RFC 9110 13.1.2, 15.4.5).

A record's ETag is its version (set by the endpoint, the one ``If-Match`` takes); any other
JSON answer (a list page, a computed view) gets a weak ETag over its bytes. Either way a
portal that polls a screen pays for the body only when it changed. Downloads (files, CSV) and
answers over ``MAX_BUFFERED`` bytes pass through untouched.

Display fields copied from other services (``partner_name``) are not part of a record's
version: a rename shows on its next change, or on a read without ``If-None-Match``.
"""

from __future__ import annotations

import base64
import hashlib

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BUFFERED = 4 * 1024 * 1024
# Kept on a 304: what a cache needs to refresh its stored answer (RFC 9110 15.4.5).
_KEPT_ON_304 = (b"etag", b"cache-control", b"vary", b"content-location", b"date", b"expires",
                b"x-request-id", b"ratelimit-limit", b"ratelimit-remaining", b"ratelimit-reset",
                b"ratelimit-policy")


def weak_etag(body: bytes) -> str:
    digest = hashlib.sha256(body).digest()[:18]
    return f'W/"{base64.urlsafe_b64encode(digest).decode()}"'


def matches(if_none_match: str, current: str) -> bool:
    """Weak comparison (RFC 9110 8.8.3.2): ``W/`` is ignored on both sides; ``*`` matches."""
    offered = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in offered or current.removeprefix("W/") in offered


class ConditionalGet:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        if_none_match = next((v.decode("latin-1") for k, v in scope["headers"]
                              if k == b"if-none-match"), None)
        start: Message | None = None
        chunks: list[bytes] = []
        size = 0
        passing = False

        async def conditional_send(message: Message) -> None:
            nonlocal start, size, passing
            if passing:
                await send(message)
                return
            if message["type"] == "http.response.start":
                headers = MutableHeaders(raw=list(message["headers"]))
                if message["status"] != 200 or not headers.get("content-type", "").startswith(
                        "application/json"):
                    passing = True
                    await send(message)
                    return
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > MAX_BUFFERED:  # too large to hash here: send as it comes
                passing = True
                await send(start)
                await send({"type": "http.response.body", "body": b"".join(chunks),
                            "more_body": message.get("more_body", False)})
                return
            if message.get("more_body", False):
                return
            await _finish(send, start, b"".join(chunks), if_none_match)

        await self.app(scope, receive, conditional_send)


async def _finish(send: Send, start: Message, body: bytes, if_none_match: str | None) -> None:
    headers = MutableHeaders(raw=list(start["headers"]))
    current = headers.get("etag") or weak_etag(body)
    headers["etag"] = current
    if "cache-control" not in headers:
        # Answers depend on who asks: only the caller's own cache may keep them, and it asks
        # again (with If-None-Match) before using one.
        headers["cache-control"] = "private, no-cache"
    if if_none_match is not None and matches(if_none_match, current):
        kept = [(k, v) for k, v in headers.raw if k in _KEPT_ON_304]
        await send({"type": "http.response.start", "status": 304, "headers": kept})
        await send({"type": "http.response.body", "body": b""})
        return
    await send({**start, "headers": headers.raw})
    await send({"type": "http.response.body", "body": body})
