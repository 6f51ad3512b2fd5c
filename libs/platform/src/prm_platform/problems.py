"""RFC 9457 problem details for every 4xx/5xx a service returns.

Domain code raises a typed ``ProblemError`` subclass; the handlers installed by
``install_problem_handlers`` turn it, request-validation errors, unknown routes and methods, and
unexpected exceptions into ``application/problem+json``. Never a stack trace to the client.

Problem ``type`` values are relative URI references (``/problems/<slug>``); the gateway serves a
description of each one at that path, and docs/problems.md lists them.

Problems are written in English; the outermost layer puts ``title``, ``detail`` and the
``errors`` messages in the language the request's ``Accept-Language`` asks for
(``prm_platform.i18n``, catalogues under ``locales/``) and says which in ``Content-Language``.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import uuid
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from prm_platform import cause, i18n

log = logging.getLogger("prm.problems")

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "/problems/"

# Every problem type the platform emits, with the sentence that documents it. Services declare
# their own (``ServiceDeclaration.problems``). The gateway serves both at /problems/<slug>; a test
# checks docs/problems.md lists each one.
PROBLEM_TYPES: dict[str, str] = {
    "validation-error": "The request body, query or path failed validation; see `errors`.",
    "malformed-request": "The request could not be parsed (invalid JSON, bad cursor, bad header).",
    "unauthenticated": "No credentials, or credentials that are unknown, revoked or expired.",
    "forbidden": "The credentials are valid but lack the scope or ownership this needs.",
    "not-found": "No such resource, or not one the caller may see.",
    "method-not-allowed": "The resource exists but does not support this HTTP method.",
    "conflict": "The request conflicts with the resource's current state.",
    "invalid-transition": "The action is not allowed from the resource's current status.",
    "precondition-failed": "The If-Match header does not match the resource's current ETag.",
    "idempotency-key-reused": "The Idempotency-Key was already used with a different request.",
    "idempotency-key-in-use": "A request with this Idempotency-Key is still being processed.",
    "payload-too-large": "The request body exceeds the size limit.",
    "unsupported-media-type": "The request body must be application/json.",
    "rate-limited": "Too many requests; retry after the number of seconds in Retry-After.",
    "invalid-signature": "A signed delivery (prm_platform.signatures) whose signature is "
    "missing, does not match its body, or whose time is more than five minutes from ours.",
    "service-unavailable": "A dependency (service, database or broker) is unavailable.",
    "internal-error": "An unexpected error; it was logged with the request id.",
}


def known_problem_types() -> dict[str, str]:
    """The platform's problem types and those every declared service adds."""
    from prm_platform.declaration import declared_problems

    return {**PROBLEM_TYPES, **declared_problems()}


def problem_title(slug: str) -> str:
    """The problem type's title (RFC 9457: the same for every occurrence of the type), e.g.
    ``validation-error`` -> "Validation error". English: the answer carries it in the
    caller's language (``localising``)."""
    return slug.replace("-", " ").capitalize()


def problem_type(slug: str) -> str:
    if slug not in PROBLEM_TYPES and slug not in known_problem_types():
        raise ValueError(f"undocumented problem type {slug!r}")
    return PROBLEM_BASE + slug


class FieldError(BaseModel):
    location: str = Field(description="Where the bad value is: body, query, path or header.")
    field: str = Field(description="Dotted path to the field inside its location.")
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem details object."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "/problems/not-found",
                    "title": "Not Found",
                    "status": 404,
                    "detail": "partner 0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e5f not found",
                    "instance": "/v1/partners/0193c1c2-7e1a-7d2b-9a51-6f3f1c2d4e5f",
                }
            ]
        },
    )

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] | None = None


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


def problem_body(status: int, slug: str, detail: str | None = None, *,
                 instance: str | None = None, **extra: Any) -> dict[str, Any]:
    """The problem document itself, e.g. for one item of a batch answered as a whole."""
    body: dict[str, Any] = {
        "type": problem_type(slug),
        "title": problem_title(slug),
        "status": status,
    }
    if detail is not None:
        body["detail"] = detail
    if instance is not None:
        body["instance"] = instance
    body.update({k: v for k, v in extra.items() if v is not None})
    if status >= 500 and "request_id" not in body and (rid := _request_id.get()) is not None:
        body["request_id"] = rid  # what an operator greps the logs for
    return body


def problem_response(
    status: int,
    slug: str,
    detail: str | None = None,
    *,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> ProblemResponse:
    return ProblemResponse(problem_body(status, slug, detail, instance=instance, **extra),
                           status_code=status, headers=headers)


class ProblemError(Exception):
    """A typed error that maps to one problem response. Subclasses fix status and type."""

    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal-error"

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(detail or self.slug)
        self.detail = detail
        self.headers = headers
        self.extra = extra

    def response(self, instance: str | None = None) -> ProblemResponse:
        return problem_response(self.status, self.slug, self.detail, instance=instance,
                                headers=self.headers, **self.extra)


class MalformedRequest(ProblemError):
    status, slug = 400, "malformed-request"


class Unauthenticated(ProblemError):
    status, slug = 401, "unauthenticated"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="prm"'}, **extra)


class Forbidden(ProblemError):
    status, slug = 403, "forbidden"


class NotFound(ProblemError):
    status, slug = 404, "not-found"


class Conflict(ProblemError):
    status, slug = 409, "conflict"


class InvalidTransition(ProblemError):
    status, slug = 409, "invalid-transition"


class PreconditionFailed(ProblemError):
    status, slug = 412, "precondition-failed"


class PayloadTooLarge(ProblemError):
    status, slug = 413, "payload-too-large"


class Unprocessable(ProblemError):
    """A well-formed request that the domain refuses; subclasses give the reason its own type."""

    status, slug = 422, "validation-error"


class ServiceUnavailable(ProblemError):
    status, slug = 503, "service-unavailable"


def field_error(where: str, message: str) -> dict[str, str]:
    """One bad value named as validation errors name theirs: ``where`` is its location and
    dotted path, e.g. ``"body.parent_id"`` or ``"query.as_of"``."""
    location, _, field = where.partition(".")
    return {"location": location, "field": field, "message": message}


def _dotted(path: Sequence[str | int]) -> str:
    """``("customer", "name")`` -> ``customer.name``; list items as ``scopes[0]``; a rule on
    the whole body (a model-level check) -> ``(body)``, never an empty or bare-index name."""
    dotted = ""
    for part in path:
        if isinstance(part, int):
            dotted += f"[{part}]"
        else:
            dotted += f".{part}" if dotted else str(part)
    return dotted or "(body)"


def field_errors(errors: list[Any], location: str = "body") -> list[dict[str, str]]:
    """A pydantic ``ValidationError.errors()`` as the problem document's ``errors`` list."""
    return [{"location": location, "field": _dotted(err.get("loc", ())),
             "message": err.get("msg", "")} for err in errors]


def _field_errors(exc: RequestValidationError) -> tuple[list[dict[str, str]], bool]:
    errors, malformed = [], False
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        location = loc[0] if loc else "body"
        if err.get("type") == "json_invalid":
            malformed = True
        errors.append(
            {"location": location, "field": _dotted(err.get("loc", ())[1:]),
             "message": err.get("msg", "")}
        )
    return errors, malformed


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app accepts on the request's path."""
    from fastapi.routing import iter_route_contexts
    from starlette.routing import compile_path

    methods: set[str] = set()
    # Included routers are resolved lazily by FastAPI: app.routes alone does not list them.
    for context in iter_route_contexts(request.app.router.routes):
        if context.path and context.methods:
            pattern, _, _ = compile_path(context.path)
            if pattern.match(request.url.path):
                methods |= set(context.methods)
    return sorted(methods)


_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# The id of the request being answered (set by UnexpectedErrors), for every 5xx body.
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("prm_request_id",
                                                                        default=None)


def request_id(headers: Headers) -> str:
    """The client's X-Request-Id if it is sane (it ends up in logs), else a new one."""
    offered = headers.get("x-request-id", "")
    return offered if _REQUEST_ID.match(offered) else uuid.uuid4().hex


def this_request_id() -> str | None:
    """The id of the request this task is answering, if any."""
    return _request_id.get()


def current_request_id(scope: Scope) -> str:
    """The id ``UnexpectedErrors`` gave this request (a new one if it ran outside it)."""
    state = scope.setdefault("state", {})
    if "request_id" not in state:
        state["request_id"] = request_id(Headers(scope=scope))
    rid: str = state["request_id"]
    return rid


class UnexpectedErrors:
    """The outermost layer of every app: it names each request and answers what nothing else
    did.

    Every request gets a request id (the client's ``X-Request-Id`` if sane, else a new one),
    kept on the request state and sent back in ``X-Request-Id`` on every answer, errors
    included, so a client quoting it finds the log line. An unexpected exception from any
    layer (the edge's authentication included) is logged with that id and answered with a 500
    problem carrying it, and the connection stays open: Starlette's own last-resort handler
    sends a plain-text 500 and then re-raises, so the server drops the connection, and the next
    request a client (the gateway's pool) sends on it fails."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = current_request_id(scope)
        _request_id.set(rid)
        cause.set_current(None)  # until the request's principal is known
        started = False
        send = localising(scope, send)  # every problem below, this layer's own 500 included

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                if "x-request-id" not in headers:
                    headers["X-Request-Id"] = rid
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unhandled error on %s %s (request id %s)", scope.get("method"),
                          scope.get("path"), rid)
            if started:  # too late for a clean answer: the server has to cut the response
                raise
            response = problem_response(500, "internal-error", "an unexpected error occurred",
                                        instance=scope.get("path"), request_id=rid)
            await response(scope, receive, tracking_send)


def localising(scope: Scope, send: Send) -> Send:
    """``send`` putting every problem+json answer in the language the request's
    ``Accept-Language`` asks for (``prm_platform.i18n``): ``title``, ``detail`` and the
    ``errors`` messages where the catalogues have them, English otherwise. Each problem says
    its language in ``Content-Language`` and ``Vary: Accept-Language``; other answers pass as
    they are. Problems a gateway relays from a service are localised here too (the service
    answered in English, not having been told the caller's language)."""
    held: Message | None = None
    language = i18n.DEFAULT_LANGUAGE
    chunks: list[bytes] = []

    async def localising_send(message: Message) -> None:
        nonlocal held, language
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            if not headers.get("content-type", "").startswith(PROBLEM_MEDIA_TYPE):
                await send(message)
                return
            language = i18n.DEFAULT_LANGUAGE if "content-encoding" in headers else \
                i18n.negotiate(Headers(scope=scope).get("accept-language"))
            headers["Content-Language"] = language
            headers.add_vary_header("Accept-Language")
            if language == i18n.DEFAULT_LANGUAGE:
                await send(message)
            else:  # held until the body is known: its length changes
                held = message
            return
        if held is None or message["type"] != "http.response.body":
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        start, held = held, None
        english = b"".join(chunks)
        body = _localised(english, language)
        headers = MutableHeaders(scope=start)
        if body is None:  # not one we can read: as it was, and said to be so
            body, headers["Content-Language"] = english, i18n.DEFAULT_LANGUAGE
        headers["content-length"] = str(len(body))
        await send(start)
        await send({"type": "http.response.body", "body": body})

    return localising_send


def _localised(body: bytes, language: str) -> bytes | None:
    """The problem document in ``language``; None if it is not one (then it goes as it is)."""
    try:
        document = json.loads(body)
        if not isinstance(document, dict):
            return None
        localised = i18n.localise_problem(document, language)
        return json.dumps(localised, ensure_ascii=False, allow_nan=False, indent=None,
                          separators=(",", ":")).encode("utf-8")
    except Exception:  # noqa: BLE001 - an English problem rather than none
        log.exception("could not localise a problem into %s", language)
        return None


def install_problem_handlers(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: ProblemError) -> ProblemResponse:
        return exc.response(instance=request.url.path)

    async def on_validation(request: Request, exc: RequestValidationError) -> ProblemResponse:
        errors, malformed = _field_errors(exc)
        if malformed:
            return problem_response(400, "malformed-request", "the request body is not valid JSON",
                                    instance=request.url.path, errors=errors)
        return problem_response(422, "validation-error", "the request is not valid",
                                instance=request.url.path, errors=errors)

    async def on_http(request: Request, exc: StarletteHTTPException) -> ProblemResponse:
        slug = {
            400: "malformed-request",
            401: "unauthenticated",
            403: "forbidden",
            404: "not-found",
            405: "method-not-allowed",
            409: "conflict",
            412: "precondition-failed",
            413: "payload-too-large",
            415: "unsupported-media-type",
            422: "validation-error",
            429: "rate-limited",
            503: "service-unavailable",
        }.get(exc.status_code, "internal-error" if exc.status_code >= 500 else "malformed-request")
        detail = exc.detail if isinstance(exc.detail, str) else None
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no resource at {request.url.path}"
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            if detail == "Method Not Allowed":
                detail = f"{request.method} is not allowed on {request.url.path}"
            # Starlette names only the first route of the path; the path may have several.
            headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
        return problem_response(exc.status_code, slug, detail, instance=request.url.path,
                                headers=headers)

    async def on_unexpected(request: Request, exc: Exception) -> ProblemResponse:
        rid = current_request_id(request.scope)
        log.exception("unhandled error on %s %s (request id %s)", request.method,
                      request.url.path, rid)
        return problem_response(500, "internal-error", "an unexpected error occurred",
                                instance=request.url.path, request_id=rid)

    # Starlette types handlers as taking any Exception; each of these takes its own class.
    app.add_exception_handler(ProblemError, on_problem)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, on_validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, on_http)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, on_unexpected)


def install_outermost(app: FastAPI) -> None:
    """Add ``UnexpectedErrors`` around every other middleware: call it after the last
    ``add_middleware`` (Starlette runs the last one added first)."""
    app.add_middleware(UnexpectedErrors)


# What each problem status means, as the contract words it: a service's operation and the
# gateway's shared response (``components/responses``) say the same.
PROBLEM_DESCRIPTIONS = {
    400: "Malformed request",
    401: "Missing or invalid credentials",
    403: "Not allowed for these credentials",
    404: "Not found (or not visible to the caller)",
    409: "Conflict with the current state",
    412: "If-Match does not match the current ETag",
    413: "Request body too large",
    422: "Validation failed",
    429: "Rate limited; retry after Retry-After seconds",
    503: "A dependency is unavailable",
}


def problem_description(status: int) -> str:
    return PROBLEM_DESCRIPTIONS.get(status, HTTPStatus(status).phrase)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries declaring problem+json for the given statuses."""
    return {
        status: {
            "model": Problem,
            "description": problem_description(status),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
