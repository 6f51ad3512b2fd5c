"""The edge of a service: CORS, authentication and rate limits, as one piece of middleware.

The gateway installs it, and so does every service (``prm_platform.app``), which then accepts
callers directly: it knows nothing of API keys or tokens itself, only an ``Authenticate``
callable that turns a bearer credential into a ``Principal`` or raises a problem (a service
uses ``prm_platform.credentials.KeyDirectory``), and optionally a ``Vouched`` check that trusts
a principal a previous hop signed (the gateway's header), which skips steps 1 to 3.

For every request under ``protected_prefix``:

1. the bearer credential is authenticated: a valid one is never refused by the limits on
   failures below, whoever else failed from the same address (behind a proxy every client may
   share one);
2. a failure counts against the client address (the last hop before the trusted proxies,
   ``client_address``) and against every address together; once either is spent, failures
   are answered 429 instead of 401, so guessing keys costs the guesser time, and forged or
   rotated addresses escape nothing (the key lookup itself is local, its negative answers
   cached);
3. the principal's own rate limit is taken, and every answer carries ``RateLimit-Limit``,
   ``RateLimit-Remaining`` and ``RateLimit-Reset`` (seconds until the bucket is full again).
   Every limit is shared by the service's replicas (``prm_platform.ratelimits``, buckets in the
   service's own database): N replicas allow what one does, and the buckets unreachable, the
   request is refused with a 503, never let through;
4. the scope its route prefix demands is required (``route_scope``: the declared prefix's read
   scope for GET and HEAD, write otherwise), as the gateway does before it forwards: a caller
   that reaches a service straight holds the same scopes as one that goes through the gateway;
5. the principal is put on the request state, where ``prm_platform.security`` finds it.

CORS comes first: a preflight (``OPTIONS`` with ``Access-Control-Request-Method``) is answered
without credentials, and the headers front ends need are exposed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Sequence

from fastapi import FastAPI
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from prm_platform import cause, metrics
from prm_platform.declaration import route_scope as declared_route_scope
from prm_platform.problems import ProblemError, Unauthenticated, current_request_id
from prm_platform.ratelimits import Connect, SharedRateLimiter
from prm_platform.security import Principal

Authenticate = Callable[[str], Awaitable[Principal]]
# The scope a request (method, path) demands, or None: by default the declared route prefix's.
RouteScope = Callable[[str, str], str | None]
# A principal vouched for by a trusted hop (the gateway's signed header): returned, or None when
# the request carries none (then the bearer credential is checked). An invalid one raises.
Vouched = Callable[[Headers], Principal | None]

EXPOSED_HEADERS = ("ETag", "Location", "Idempotent-Replayed", "Retry-After", "X-Request-Id",
                   "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")
ALLOWED_HEADERS = ("Authorization", "Content-Type", "Idempotency-Key", "If-Match",
                   "If-None-Match", "X-Request-Id", "traceparent", "tracestate")
ALLOWED_METHODS = ("GET", "HEAD", "POST", "PATCH", "PUT", "DELETE")
# The subject of the failed-authentication budget of every address together.
EVERYONE = "*"


TrustedProxies = Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]


def trusted_networks(cidrs: Sequence[str]) -> TrustedProxies:
    return [ipaddress.ip_network(cidr, strict=False) for cidr in cidrs]


def _trusted(address: str, proxies: TrustedProxies) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def client_address(scope: Scope, proxies: TrustedProxies) -> str:
    """Who is calling: the peer, unless the peer is a trusted proxy; then the last address of
    ``X-Forwarded-For`` that is not a trusted proxy (each proxy appends the address it saw, so
    what a client wrote itself sits to the left of it and is never taken)."""
    address: str = (scope.get("client") or ("unknown",))[0]
    if not _trusted(address, proxies):
        return address
    hops = [hop.strip() for value in Headers(scope=scope).getlist("x-forwarded-for")
            for hop in value.split(",")]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            return hop
    return address


def bearer_token(headers: Headers) -> str:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("send an API key or token as 'Authorization: Bearer <credential>'")
    return token.strip()


class Edge:
    """Pure ASGI middleware, so it refuses a request before its body is even read."""

    def __init__(self, app: ASGIApp, *, authenticate: Authenticate, limiter: SharedRateLimiter,
                 failures: SharedRateLimiter, all_failures: SharedRateLimiter,
                 trusted_proxies: TrustedProxies = (), protected_prefix: str = "/v1",
                 vouched: Vouched | None = None, route_scope: RouteScope | None = None
                 ) -> None:
        self.app = app
        self.route_scope = route_scope or declared_route_scope
        self.authenticate = authenticate
        self.vouched = vouched
        self.limiter = limiter
        self.failures = failures
        self.all_failures = all_failures
        self.proxies = trusted_proxies
        self.prefix = protected_prefix

    def _protected(self, scope: Scope) -> bool:
        path: str = scope.get("path", "")
        return scope["type"] == "http" and (path == self.prefix
                                            or path.startswith(self.prefix + "/"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._protected(scope):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        extra = {"X-Request-Id": current_request_id(scope)}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    if name not in response_headers:
                        response_headers[name] = value
            await send(message)

        try:
            # Behind the gateway: it authenticated and rate-limited the caller already.
            principal = self.vouched(headers) if self.vouched is not None else None
            if principal is None:
                try:
                    principal = await self.authenticate(bearer_token(headers))
                except Unauthenticated:
                    # Once every address's budget is known spent, no address is even asked
                    # for: a flood of new addresses costs no database round trip.
                    self.all_failures.check(EVERYONE)
                    await self.failures.take(client_address(scope, self.proxies))
                    await self.all_failures.take(EVERYONE)
                    raise
                extra.update((await self.limiter.take(principal.subject)).headers())
                # A vouched principal was held to it by the hop that vouched for it.
                if (needed := self.route_scope(scope["method"], scope["path"])) is not None:
                    principal.require(needed)
        except ProblemError as exc:
            if exc.status == 429 and metrics.enabled():
                metrics.RATE_LIMIT_REFUSALS.inc()
            await exc.response(instance=scope.get("path"))(scope, receive, send_with_headers)
            return
        scope.setdefault("state", {})["principal"] = principal
        # The events this request publishes name its caller and its request id.
        cause.set_current(cause.Cause(principal.actor, current_request_id(scope)))
        await self.app(scope, receive, send_with_headers)


def install_edge(app: FastAPI, *, authenticate: Authenticate, connect: Connect,
                 rate_limit_per_minute: int, failed_auth_per_minute: int,
                 failed_auth_per_minute_total: int, trusted_proxies: Sequence[str],
                 cors_origins: Sequence[str], protected_prefix: str = "/v1",
                 vouched: Vouched | None = None, route_scope: RouteScope | None = None) -> None:
    """Add the edge to ``app``: CORS outermost (preflights need no credentials), then
    authentication and rate limits, shared by the app's replicas through ``connect`` (an
    autocommit connection to the service's database). Call it after the app's other
    middleware."""
    app.add_middleware(Edge, authenticate=authenticate,
                       limiter=SharedRateLimiter("requests", rate_limit_per_minute, connect),
                       failures=SharedRateLimiter("failed-auth", failed_auth_per_minute,
                                                  connect, "failed authentications"),
                       all_failures=SharedRateLimiter("failed-auth-total",
                                                      failed_auth_per_minute_total, connect,
                                                      "failed authentications in all"),
                       trusted_proxies=trusted_networks(trusted_proxies),
                       protected_prefix=protected_prefix, vouched=vouched,
                       route_scope=route_scope)
    app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins),
                       allow_credentials=False, allow_methods=list(ALLOWED_METHODS),
                       allow_headers=list(ALLOWED_HEADERS), expose_headers=list(EXPOSED_HEADERS),
                       max_age=600)
