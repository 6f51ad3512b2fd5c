"""Request plumbing shared by every service: the unit of work per request, the body size
limit, the documented headers (Idempotency-Key, If-Match) and ETags."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from prm_platform import idempotency
from prm_platform.bodies import check_json_body
from prm_platform.problems import PreconditionFailed, problem_response, problem_responses
from prm_platform.security import Principal, authenticate, current_principal

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=idempotency.MAX_KEY_LENGTH,
        pattern=idempotency.KEY_PATTERN,
        description="Makes the POST safe to retry: the same key and body return the stored "
        "response for 24 hours.",
        examples=["6f1c1c8e-3a52-4a43-9d8e-2d1a1f0c9b7e"],
    ),
]
IfMatchHeader = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=200,
        description="The ETag you last read; the change is refused with 412 if it is stale.",
        examples=['"3"'],
    ),
]


def resource_headers(status: int = 200, *, location: bool = False, etag: bool = True
                     ) -> dict[int | str, Any]:
    """OpenAPI ``responses`` entry of an answer that carries a resource's ``ETag`` (and, for a
    creation, its ``Location``)."""
    headers: dict[str, Any] = {}
    if etag:
        headers["ETag"] = {
            "description": "The resource's version; send it back in If-Match to change it.",
            "schema": {"type": "string", "examples": ['"3"']}}
    if location:
        headers["Location"] = {"description": "Where the new resource is.",
                               "schema": {"type": "string", "format": "uri-reference"}}
    return {status: {"headers": headers}}


_SINGLE_STATEMENT = "__prm_single_statement__"
_F = TypeVar("_F", bound=Callable[..., Any])


def single_statement(endpoint: _F) -> _F:
    """Mark an endpoint that makes its change in one SQL statement of its own, run in autocommit
    (one round trip: CONVENTIONS.md). ``ServiceRoute`` then opens no session and claims no
    Idempotency-Key: it leaves the request's ``IdempotentRequest`` (or None) in
    ``request.state.idempotency`` for the statement to store its response with
    (``prm_platform.idempotency.store_cte``)."""
    setattr(endpoint, _SINGLE_STATEMENT, True)
    return endpoint


@contextlib.asynccontextmanager
async def autocommit_connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A pooled connection whose every statement commits by itself: no BEGIN, no COMMIT."""
    async with engine.connect() as connection:
        yield await connection.execution_options(isolation_level="AUTOCOMMIT")


async def autocommit(request: Request) -> AsyncIterator[AsyncConnection]:
    """FastAPI dependency: the app's ``autocommit`` connection (``autocommit_connection`` on
    the service's engine; tests swap in one that rolls back)."""
    async with request.app.state.autocommit() as connection:
        yield connection


@contextlib.asynccontextmanager
async def transaction_connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A pooled connection in one transaction: committed when the block ends, rolled back if
    it raised."""
    async with engine.begin() as connection:
        yield connection


Transactions = Callable[[], contextlib.AbstractAsyncContextManager[AsyncConnection]]


async def transactions(request: Request) -> Transactions:
    """FastAPI dependency for a ``single_statement`` endpoint whose write must follow a lock
    and a read (CONVENTIONS.md): the factory of its transaction, which the endpoint opens and
    commits itself, before it answers (``transaction_connection`` on the service's engine;
    tests swap in one that rolls back)."""
    factory: Transactions = request.app.state.transaction
    return factory


class ServiceRoute(APIRoute):
    """Runs each request as one unit of work.

    Authenticates the forwarded principal, checks a JSON body (``prm_platform.bodies``), claims
    the Idempotency-Key of a POST, opens the request's session, and commits it after the
    endpoint returned (storing the idempotent response in that same transaction), or rolls back
    if it raised. Endpoints and services
    never commit.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        # A body over the limit is refused before any route runs (BodySizeLimit): every route
        # that takes one says so in the contract.
        if set(kwargs.get("methods") or ()) & {"POST", "PUT", "PATCH"}:
            kwargs["responses"] = {**problem_responses(413), **(kwargs.get("responses") or {})}
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        single = getattr(self.endpoint, _SINGLE_STATEMENT, False)

        async def unit_of_work(request: Request) -> Response:
            principal = authenticate(request)
            if self.body_field is not None:
                check_json_body(request.headers.get("content-type"), await request.body())
            if single:
                request.state.idempotency = await idempotency.identify(request,
                                                                       principal.subject)
                return await handler(request)
            if request.method == "GET":
                return await self._read(request, handler)
            sessionmaker = request.app.state.sessionmaker
            claimed = None
            if request.method == "POST" and idempotency.HEADER in request.headers:
                outcome = await idempotency.claim(request, sessionmaker, principal.subject)
                if isinstance(outcome, Response):
                    return outcome
                claimed = outcome
            try:
                async with sessionmaker() as session:
                    request.state.session = session
                    response = await handler(request)
                    if claimed is not None:
                        await idempotency.complete(session, claimed, response)
                    await session.commit()
            except BaseException:
                if claimed is not None:
                    await idempotency.release(sessionmaker, claimed)
                raise
            return response

        return unit_of_work

    @staticmethod
    async def _read(request: Request,
                    handler: Callable[[Request], Coroutine[Any, Any, Response]]) -> Response:
        """A GET in a READ ONLY transaction (``read_sessionmaker``): a write is refused by the
        database, so reads never change state (nor can a HEAD, which runs as a GET)."""
        async with request.app.state.read_sessionmaker() as session:
            request.state.session = session
            response = await handler(request)
            await session.commit()
        return response


def service_router(prefix: str, tag: str | None = None) -> APIRouter:
    """A router of a service's public routes: each runs as a ``ServiceRoute`` (authentication
    and the unit of work) and documents the problems every route may answer."""
    return APIRouter(prefix=prefix, tags=[tag] if tag else None, route_class=ServiceRoute,
                     responses=problem_responses(400, 401, 403, 422))


async def request_session(request: Request) -> AsyncSession:
    """The request's session (FastAPI dependency). Opened and committed by ``ServiceRoute``.
    Async, like every dependency: a plain ``def`` one runs in the threadpool, a thread hop per
    request."""
    session: AsyncSession = request.state.session
    return session


# The endpoint parameters every router takes: the request's session and the caller.
Session = Annotated[AsyncSession, Depends(request_session)]
Caller = Annotated[Principal, Depends(current_principal)]
# A ``single_statement`` endpoint's connection, in autocommit.
Autocommit = Annotated[AsyncConnection, Depends(autocommit)]


def etag(version: int) -> str:
    return f'"{version}"'


def check_if_match(if_match: str | None, version: int) -> None:
    if if_match is None:
        return
    current = etag(version)
    offered = [tag.strip().removeprefix("W/") for tag in if_match.split(",")]
    if "*" not in offered and current not in offered:
        raise PreconditionFailed(f"the resource is at ETag {current}, not {if_match}")


class HeadAsGet:
    """Answers ``HEAD`` like ``GET`` without the body (RFC 9110 9.3.2): FastAPI routes only the
    methods an endpoint declares. The server still sees the request as HEAD and sends no body;
    the endpoint sees a GET."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "HEAD":
            scope = {**scope, "method": "GET"}
        await self.app(scope, receive, send)


class BodySizeLimit:
    """Refuses request bodies over ``max_bytes`` with a 413 problem, whether or not the client
    sent Content-Length (OWASP API4)."""

    def __init__(self, app: ASGIApp, max_bytes: int,
                 larger: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Path prefixes (a bulk upload's) allowed more than ``max_bytes``.
        self.larger = dict(larger or {})

    def limit(self, path: str) -> int:
        for prefix, allowed in self.larger.items():
            if path == prefix or path.startswith(prefix + "/"):
                return max(allowed, self.max_bytes)
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.limit(scope.get("path", ""))
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > max_bytes):
            await self._refuse(scope, receive, send, max_bytes)
            return
        if declared is not None:  # within the limit, and the server holds it to that length
            await self.app(scope, receive, send)
            return
        # No length declared (chunked): read it here, at most max_bytes, so that an oversized
        # body is a clean 413 rather than an error in the middle of the endpoint's parsing.
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > max_bytes:
                await self._refuse(scope, receive, send, max_bytes)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, max_bytes: int) -> None:
        response = problem_response(413, "payload-too-large",
                                    f"the body exceeds {max_bytes} bytes",
                                    instance=scope.get("path"))
        await response(scope, receive, send)
