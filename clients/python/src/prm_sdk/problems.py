"""Problem details (RFC 9457), as every error answer of the API is (docs/problems.md)."""

from __future__ import annotations

import json
from typing import Any, TypedDict

import httpx


class FieldError(TypedDict):
    """One field of a ``validation-error`` problem."""

    location: str
    field: str
    message: str


class ProblemError(Exception):
    """An error answer of the API, raised by every call of the SDK.

    Branch on ``type`` (a stable URI reference such as ``/problems/not-found``; ``matches``
    takes it with or without the prefix), never on ``detail``, which is for humans and comes in
    the caller's language. Extra members (``current_status``, ``missing_scope``, ...) are in
    ``body``. An error answer that is not ``application/problem+json`` (a proxy's 502 page) is
    one too, of type ``about:blank`` with the HTTP status.
    """

    def __init__(self, body: dict[str, Any], response: httpx.Response) -> None:
        self.type: str = body["type"] if isinstance(body.get("type"), str) else "about:blank"
        title = body.get("title")
        self.title: str = title if isinstance(title, str) else (
            response.reason_phrase or f"HTTP {response.status_code}")
        status = body.get("status")
        self.status: int = status if isinstance(status, int) else response.status_code
        detail = body.get("detail")
        self.detail: str | None = detail if isinstance(detail, str) else None
        instance = body.get("instance")
        self.instance: str | None = instance if isinstance(instance, str) else None
        errors = body.get("errors")
        self.errors: list[FieldError] = errors if isinstance(errors, list) else []
        request_id = body.get("request_id")
        #: The body's ``request_id`` (5xx answers) or else ``X-Request-Id``: what the logs say.
        self.request_id: str | None = (
            request_id if isinstance(request_id, str) else response.headers.get("x-request-id"))
        #: The whole problem document, extra members included.
        self.body: dict[str, Any] = body
        self.response: httpx.Response = response
        message = f"{self.title} ({self.status})"
        super().__init__(f"{message}: {self.detail}" if self.detail else message)

    def matches(self, type: str) -> bool:
        """Whether this is the problem ``type``: ``"/problems/not-found"`` or ``"not-found"``."""
        slug = type.removeprefix("/problems/")
        return self.type == type or self.type.endswith(f"/problems/{slug}")

    @classmethod
    def from_response(cls, response: httpx.Response) -> ProblemError:
        """The ProblemError of an error answer (whose body has been read)."""
        body: dict[str, Any] = {}
        media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type == "application/problem+json":
            try:
                parsed = json.loads(response.content)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):
                body = parsed
        if "type" not in body:
            text = response.text
            body = {"type": "about:blank",
                    "title": response.reason_phrase or f"HTTP {response.status_code}",
                    "status": response.status_code,
                    **({"detail": text[:500]} if text else {}), **body}
        return cls(body, response)


def is_problem(error: BaseException, type: str | None = None) -> bool:
    """Whether ``error`` is a ProblemError, optionally of this ``type``."""
    return isinstance(error, ProblemError) and (type is None or error.matches(type))
